// A small JMAP client (RFC 8620) for the logged-in browser: the session cookie goes with
// every request by itself; POSTs add the CSRF token the server handed to this page.

const CORE = "urn:ietf:params:jmap:core";
const MAIL = "urn:ietf:params:jmap:mail";
const SUBMISSION = "urn:ietf:params:jmap:submission";

export class LoggedOut extends Error {}

export class Jmap {
  constructor(csrf) {
    this.csrf = csrf;
    this.session = null;
    this.accountId = null;
    this.free = 1; // request slots: the server's maxConcurrentRequests once known
    this.waiting = [];
  }

  // At most maxConcurrentRequests at once (RFC 8620 2); the others wait their turn.
  async slot() {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise((resolve) => this.waiting.push(resolve));
  }

  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }

  async post(url, init) {
    await this.slot();
    try {
      return await fetch(url, { method: "POST", credentials: "same-origin", ...init });
    } finally {
      this.release();
    }
  }

  async start(sessionPath) {
    const response = await fetch(sessionPath, { credentials: "same-origin" });
    if (response.status === 401) throw new LoggedOut();
    if (!response.ok) throw new Error(`session: ${response.status}`);
    this.session = await response.json();
    this.accountId = this.session.primaryAccounts[MAIL];
    this.free = this.session.capabilities[CORE].maxConcurrentRequests || 1;
  }

  // Runs method calls; each call's arguments get the accountId unless they have one.
  // Returns the responses as [name, args, callId] triples.
  async call(calls) {
    const methodCalls = calls.map(([name, args, id], i) =>
      [name, { accountId: this.accountId, ...args }, id || `c${i}`]);
    const response = await this.post(this.session.apiUrl, {
      headers: { "Content-Type": "application/json", "X-Posthouse-CSRF": this.csrf },
      body: JSON.stringify({ using: [CORE, MAIL, SUBMISSION], methodCalls }),
    });
    if (response.status === 401) throw new LoggedOut();
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(`JMAP request refused (${response.status}): ${problem.detail || problem.type || ""}`);
    }
    return (await response.json()).methodResponses;
  }

  // The arguments of the first response named `name` (an "error" response throws).
  async get(calls, name) {
    const responses = await this.call(calls);
    for (const [got, args] of responses) {
      if (got === "error") throw new Error(`${args.type}: ${args.description || ""}`);
      if (got === name) return args;
    }
    throw new Error(`no ${name} in the response`);
  }

  async upload(file) {
    const url = this.session.uploadUrl.replace("{accountId}", encodeURIComponent(this.accountId));
    const response = await this.post(url, {
      headers: { "Content-Type": file.type || "application/octet-stream",
                 "X-Posthouse-CSRF": this.csrf },
      body: file,
    });
    if (response.status === 401) throw new LoggedOut();
    if (!response.ok) throw new Error(`upload failed: ${response.status}`);
    return response.json();
  }

  downloadUrl(blobId, name, type) {
    return this.session.downloadUrl
      .replace("{accountId}", encodeURIComponent(this.accountId))
      .replace("{blobId}", encodeURIComponent(blobId))
      .replace("{name}", encodeURIComponent(name || "attachment"))
      .replace("{type}", encodeURIComponent(type || "application/octet-stream"));
  }

  // Push (RFC 8620 7.3): calls onChange with the account's changed type states.
  listen(onChange) {
    const url = this.session.eventSourceUrl
      .replace("{types}", "*").replace("{closeafter}", "no").replace("{ping}", "60");
    const source = new EventSource(url);
    source.addEventListener("state", (event) => {
      const change = JSON.parse(event.data);
      const changed = (change.changed || {})[this.accountId];
      if (changed) onChange(changed);
    });
    return source;
  }
}
