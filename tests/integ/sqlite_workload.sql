-- sqlite_workload.sql: the integ-sqlite workload for heapscope. Builds a
-- table of 200,000 deterministic rows (no random()), indexes it, and prints
-- aggregate query results; the output is the same on every run, with or
-- without a profiler. Run as: sqlite3 :memory: < sqlite_workload.sql
.bail on
.headers off
.mode list
PRAGMA cache_size = -65536;

CREATE TABLE t (
  id     INTEGER PRIMARY KEY,
  grp    INTEGER NOT NULL,
  name   TEXT NOT NULL,
  score  REAL NOT NULL,
  blob   BLOB
);

BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t (id, grp, name, score, blob)
SELECT x,
       (x * 7919) % 1000,
       printf('name-%06d-%s', (x * 104729) % 1000003, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 7)),
       ((x * 2654435761) % 100000) / 100.0,
       zeroblob(x % 50)
FROM c;
COMMIT;

CREATE INDEX t_grp_score ON t (grp, score);
CREATE INDEX t_name ON t (name);

SELECT 'rows', count(*), sum(length(blob)), sum(grp) FROM t;
SELECT 'groups', count(DISTINCT grp), min(score), max(score), printf('%.4f', avg(score)) FROM t;
SELECT 'top-groups', group_concat(grp || ':' || n, ',') FROM (
  SELECT grp, count(*) AS n FROM t WHERE score > 500 GROUP BY grp ORDER BY n DESC, grp LIMIT 5);
SELECT 'range', count(*), printf('%.2f', sum(score)) FROM t WHERE grp BETWEEN 100 AND 199 AND score < 250;
SELECT 'names', count(*), min(name), max(name) FROM t WHERE name LIKE 'name-00%';
SELECT 'join', count(*) FROM t AS a JOIN t AS b ON a.grp = b.grp AND a.id + 1000 = b.id WHERE a.id % 10 = 0;

UPDATE t SET score = score + 1 WHERE grp % 10 = 3;
DELETE FROM t WHERE id % 17 = 0;
SELECT 'after', count(*), printf('%.2f', total(score)) FROM t;

CREATE TABLE agg AS SELECT grp, count(*) AS n, group_concat(substr(name, 6, 6), '') AS s FROM t GROUP BY grp;
SELECT 'agg', count(*), sum(n), sum(length(s)) FROM agg;
SELECT 'checksum', sum(unicode(substr(s, 1 + n % 5, 1)) * n) % 1000007 FROM agg;
PRAGMA integrity_check;
