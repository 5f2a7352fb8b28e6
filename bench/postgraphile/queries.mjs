// The three queries, as each server spells them, and what their answers
// hold reduced to the same shape, so that the driver can check that both
// servers answer with the same rows before it measures anything.
//
// Onroll names objects by global ID (base64url of "Type:row id") and
// PostGraphile 5 (amber preset) by `rowId`; both select the same columns.
// Orders are Onroll's: students by row id, a student's guardian links
// active first, then by contact priority (nulls last), then by row id;
// a student's current classes by class id.

/// Onroll's global ID of a row (src/graphql/ids.rs).
export const onrollId = (type, rowId) => Buffer.from(`${type}:${rowId}`).toString("base64url");

const link = {
  onroll: "guardians { relationship priority guardian { wondeId forename surname } }",
  postgraphile:
    "guardianLinksByStudentId(orderBy: [ACTIVE_DESC, PRIORITY_ASC, ROW_ID_ASC]) { nodes { relationship priority guardianByGuardianId { wondeId forename surname } } }",
};

const links = (student, server) =>
  server === "onroll"
    ? student.guardians.map((l) => [l.relationship, l.priority, l.guardian.wondeId, l.guardian.forename, l.guardian.surname])
    : student.guardianLinksByStudentId.nodes.map((l) => [
        String(l.relationship).toUpperCase(),
        l.priority,
        l.guardianByGuardianId.wondeId,
        l.guardianByGuardianId.forename,
        l.guardianByGuardianId.surname,
      ]);

export const QUERIES = [
  {
    key: "a",
    title: "(a) a school's first 100 students with guardians and classes",
    onroll: {
      query: `query($id: ID!) { school(id: $id) { students(first: 100) { edges { node { wondeId forename surname ${link.onroll} classes { wondeId name } } } } } }`,
      variables: (ids) => ({ id: onrollId("School", ids.school) }),
    },
    postgraphile: {
      query: `query($id: Int!) { schoolByRowId(rowId: $id) { studentsBySchoolId(first: 100, orderBy: ROW_ID_ASC) { nodes { wondeId forename surname ${link.postgraphile} classStudentsByStudentId(condition: { active: true }, orderBy: CLASS_ID_ASC) { nodes { classByClassId { wondeId name } } } } } } }`,
      variables: (ids) => ({ id: ids.school }),
    },
    rows: (data, server) => {
      const students =
        server === "onroll"
          ? data.school.students.edges.map((e) => e.node)
          : data.schoolByRowId.studentsBySchoolId.nodes;
      return students.map((s) => ({
        student: [s.wondeId, s.forename, s.surname],
        guardians: links(s, server),
        classes:
          server === "onroll"
            ? s.classes.map((c) => [c.wondeId, c.name])
            : s.classStudentsByStudentId.nodes.map((m) => [m.classByClassId.wondeId, m.classByClassId.name]),
      }));
    },
  },
  {
    key: "b",
    title: "(b) a class roster",
    onroll: {
      query:
        "query($id: ID!) { node(id: $id) { ... on Class { wondeId name students(first: 100) { edges { node { wondeId forename surname } } } } } }",
      variables: (ids) => ({ id: onrollId("Class", ids.class) }),
    },
    postgraphile: {
      query:
        "query($id: Int!) { classByRowId(rowId: $id) { wondeId name classStudentsByClassId(condition: { active: true }, orderBy: STUDENT_ID_ASC) { nodes { studentByStudentId { wondeId forename surname } } } } }",
      variables: (ids) => ({ id: ids.class }),
    },
    rows: (data, server) => {
      const c = server === "onroll" ? data.node : data.classByRowId;
      const students =
        server === "onroll"
          ? c.students.edges.map((e) => e.node)
          : c.classStudentsByClassId.nodes.map((m) => m.studentByStudentId);
      return { class: [c.wondeId, c.name], students: students.map((s) => [s.wondeId, s.forename, s.surname]) };
    },
  },
  {
    key: "c",
    title: "(c) one student by id with guardians",
    onroll: {
      query: `query($id: ID!) { student(id: $id) { wondeId forename surname ${link.onroll} } }`,
      variables: (ids) => ({ id: onrollId("Student", ids.student) }),
    },
    postgraphile: {
      query: `query($id: Int!) { studentByRowId(rowId: $id) { wondeId forename surname ${link.postgraphile} } }`,
      variables: (ids) => ({ id: ids.student }),
    },
    rows: (data, server) => {
      const s = server === "onroll" ? data.student : data.studentByRowId;
      return { student: [s.wondeId, s.forename, s.surname], guardians: links(s, server) };
    },
  },
];

/// How many rows of each kind an answer holds (for the report).
export function rowCount(rows) {
  if (Array.isArray(rows)) {
    return rows.reduce((n, r) => n + 1 + r.guardians.length + r.classes.length, 0);
  }
  return 1 + (rows.students?.length ?? 0) + (rows.guardians?.length ?? 0);
}
