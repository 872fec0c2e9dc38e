// Resync with imapflow (QRESYNC): run by tests/interop/test_imapflow.py, prints one JSON line.
// argv: port user password uidvalidity modseq
import { ImapFlow } from 'imapflow';

const [port, user, pass, uidValidity, modseq] = process.argv.slice(2);
const client = new ImapFlow({
    host: '127.0.0.1', port: Number(port), secure: true, qresync: true, logger: false,
    tls: { rejectUnauthorized: false }, auth: { user, pass },
});
const vanished = [];
client.on('expunge', (data) => vanished.push({ uid: data.uid, earlier: data.earlier }));
await client.connect();
const box = await client.mailboxOpen('INBOX', { uidValidity, changedSince: BigInt(modseq) });
const changed = [];
for await (const msg of client.fetch('1:*', { uid: true, flags: true },
                                     { uid: true, changedSince: BigInt(modseq) })) {
    changed.push({ uid: msg.uid, flags: [...msg.flags].sort(), modseq: String(msg.modseq) });
}
const result = {
    enabled: [...client.enabled].sort(),
    qresync: Boolean(box.qresync),
    highestModseq: String(box.highestModseq),
    exists: box.exists,
    vanished,
    changed,
    // imapflow turns on COMPRESS=DEFLATE by itself when it is advertised (RFC 4978);
    // _deflate is its private compressor, set only once the server said OK
    compressed: Boolean(client._deflate),
};
await client.logout();
console.log(JSON.stringify(result));
