// What a front-end team writes against Onroll: urql with the typed
// documents GraphQL Code Generator made from schema.graphql. Every result
// below is typed; `tsc --strict` checks the fields used exist with these
// types (DateTime is an RFC 3339 string, as its @specifiedBy says).

import { Client, fetchExchange } from '@urql/core';
import {
  MultiSchoolFamiliesDocument,
  RecentDeactivationsDocument,
  SchoolsWithStudentsDocument,
  TriggerFullSyncDocument,
  ViewerDocument,
} from './generated.js';

/** One operation's outcome, for the runner to print. */
export interface Outcome {
  name: string;
  detail: string;
}

function fail(name: string, error: unknown): never {
  throw new Error(`${name}: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
}

/** Runs every operation in operations/ against `url` with `token`. */
export async function runAll(url: string, token: string): Promise<Outcome[]> {
  const client = new Client({
    url,
    exchanges: [fetchExchange],
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    requestPolicy: 'network-only',
    // Onroll takes operations by POST only (GET /graphql is GraphiQL);
    // urql would otherwise send short queries as GET.
    preferGetMethod: false,
  });
  const outcomes: Outcome[] = [];

  const viewer = await client.query(ViewerDocument, {}).toPromise();
  if (viewer.error || !viewer.data) fail('Viewer', viewer.error);
  const role: string = viewer.data.viewer.role;
  outcomes.push({ name: 'Viewer', detail: role });

  const schools = await client.query(SchoolsWithStudentsDocument, { first: 10 }).toPromise();
  if (schools.error || !schools.data) fail('SchoolsWithStudents', schools.error);
  const trust = schools.data.trusts[0];
  if (!trust) fail('SchoolsWithStudents', 'no trust');
  const first = trust.schools.edges[0]?.node;
  if (!first) fail('SchoolsWithStudents', 'no school');
  const synced: string | null = first.connection?.lastFullSyncAt ?? null;
  if (synced === null || Number.isNaN(Date.parse(synced))) fail('SchoolsWithStudents', `lastFullSyncAt ${synced}`);
  const pupils = first.students.edges.map((edge) => `${edge.node.forename} ${edge.node.surname}`);
  outcomes.push({
    name: 'SchoolsWithStudents',
    detail: `${trust.schools.totalCount} schools; ${first.name}: ${first.students.totalCount} students (${pupils.slice(0, 2).join(', ')}...), synced ${synced}`,
  });

  const families = await client.query(MultiSchoolFamiliesDocument, {}).toPromise();
  if (families.error || !families.data) fail('MultiSchoolFamilies', families.error);
  const familyCount = families.data.trusts.reduce((sum, t) => sum + t.families.totalCount, 0);
  outcomes.push({ name: 'MultiSchoolFamilies', detail: `${familyCount} families across schools` });

  const run = await client.mutation(TriggerFullSyncDocument, { schoolId: first.id }).toPromise();
  if (run.error || !run.data) fail('TriggerFullSync', run.error);
  const queued: string = run.data.triggerSync.queuedAt;
  if (Number.isNaN(Date.parse(queued))) fail('TriggerFullSync', `queuedAt ${queued}`);
  outcomes.push({ name: 'TriggerFullSync', detail: `${run.data.triggerSync.kind} run ${run.data.triggerSync.status}` });

  const events = await client.query(RecentDeactivationsDocument, { first: 5 }).toPromise();
  if (events.error || !events.data) fail('RecentDeactivations', events.error);
  const people = events.data.deactivationEvents.edges.map(({ node }) => {
    const person = node.person;
    return `${person.__typename} ${person.forename} ${person.surname} (${node.reason})`;
  });
  outcomes.push({ name: 'RecentDeactivations', detail: `${people.length} events${people.length ? `: ${people[0]}` : ''}` });
  return outcomes;
}
