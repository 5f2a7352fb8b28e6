// Counts the SQL statements clients send to PostgreSQL, by sitting between
// them and the server on loopback. Every statement a client runs reaches
// the server as a simple Query message ('Q') or an extended-protocol
// Execute message ('E'); this counts both, per first SQL keyword, without
// changing a byte. pg_stat_statements would need the shared cluster
// restarted (shared_preload_libraries), which this benchmark must not do.
//
//   node pgcount.mjs <listen port> <control port> [upstream host:port]
//
// The control port answers GET / with the counts so far as JSON, and
// POST /reset sets them to zero. SSL requests are answered "no" here, so
// the stream stays readable (loopback only).
import net from "node:net";
import http from "node:http";

const [listenPort, controlPort, upstream = "127.0.0.1:5432"] = process.argv.slice(2);
const [upHost, upPort] = upstream.split(":");

let counts = {};
const bump = (keyword) => {
  counts[keyword] = (counts[keyword] ?? 0) + 1;
};
const keywordOf = (sql) => (sql.trim().match(/^[A-Za-z]+/)?.[0] ?? "?").toUpperCase();

net
  .createServer((client) => {
    const server = net.connect(Number(upPort), upHost);
    // Prepared statements by name (per connection): an Execute runs the
    // portal bound from one of them; the unnamed one is "".
    const statements = new Map();
    const portals = new Map();
    let started = false;
    let pending = Buffer.alloc(0);
    client.on("data", (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      const forward = [];
      for (;;) {
        if (!started) {
          if (pending.length < 8) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          const code = pending.readInt32BE(4);
          const message = pending.subarray(0, length);
          pending = pending.subarray(length);
          if (code === 80877103 || code === 80877104) {
            client.write("N"); // SSLRequest / GSSENCRequest: not here.
            continue;
          }
          if (code === 196608) started = true; // StartupMessage
          forward.push(message);
          continue;
        }
        if (pending.length < 5) break;
        const type = String.fromCharCode(pending[0]);
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        const message = pending.subarray(0, 1 + length);
        pending = pending.subarray(1 + length);
        const body = message.subarray(5);
        const cstring = (from) => {
          const end = body.indexOf(0, from);
          return [body.toString("utf8", from, end), end + 1];
        };
        if (type === "Q") {
          bump(keywordOf(cstring(0)[0]));
        } else if (type === "P") {
          const [name, next] = cstring(0);
          statements.set(name, cstring(next)[0]);
        } else if (type === "B") {
          const [portal, next] = cstring(0);
          portals.set(portal, statements.get(cstring(next)[0]) ?? "");
        } else if (type === "E") {
          bump(keywordOf(portals.get(cstring(0)[0]) ?? ""));
        }
        forward.push(message);
      }
      if (forward.length) server.write(Buffer.concat(forward));
    });
    server.on("data", (chunk) => client.write(chunk));
    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on("close", close);
    server.on("close", close);
    client.on("error", close);
    server.on("error", close);
  })
  .listen(Number(listenPort), "127.0.0.1");

http
  .createServer((req, res) => {
    if (req.method === "POST" && req.url === "/reset") counts = {};
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(counts));
  })
  .listen(Number(controlPort), "127.0.0.1");
