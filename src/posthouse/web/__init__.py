"""The HTTP endpoints: request and response values, the route table, and the pages the mail
server answers (client autoconfiguration, the MTA-STS policy, metrics and health).

Nothing here touches a socket: serve/http.py drives h11 on a net.Connection and hands each
complete request to the route table."""
