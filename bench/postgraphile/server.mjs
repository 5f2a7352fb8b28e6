// PostGraphile 5 serving Onroll's PostgreSQL tables over GraphQL, for the
// side-by-side benchmark (README.md). Loopback only, no GraphiQL, no auth:
// PostGraphile reads the tables as the database user the URL names.
//
//   node server.mjs <postgres URL> <port> [schema]
//
// The pool holds 16 connections, as Onroll's PostgreSQL pool does
// (src/db.rs), so that neither server waits on connections the other has.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";

const [connectionString, portText, schema = "public"] = process.argv.slice(2);
const port = Number(portText);
if (!connectionString || !Number.isInteger(port)) {
  console.error("usage: node server.mjs <postgres URL> <port> [schema]");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  // PostGraphile 5 offers ordering and conditions only on indexed columns;
  // the queries order guardian links by `active` and `priority` as Onroll
  // does, so every column is offered (PostGraphile 4's default). This
  // changes the schema, not the SQL a query runs.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({ connectionString, schemas: [schema], poolConfig: { max: 16 } }),
  ],
  grafserv: { host: "127.0.0.1", port, graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
await serv.addTo(server);
server.listen(port, "127.0.0.1", () => {
  console.error(`postgraphile listening on http://127.0.0.1:${port}/graphql`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    server.close();
    await pgl.release();
    process.exit(0);
  });
}
