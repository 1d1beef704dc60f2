-- whistlebox on PostgreSQL: the database and its roles (run once on the primary, as postgres).
-- whistlebox creates its own tables at its first start (migrations inside the binary), so
-- its role owns them; it needs no superuser right. It runs VACUUM FULL on its own tables.
CREATE ROLE whistlebox LOGIN PASSWORD 'change me: the same line as /etc/whistlebox/keys/postgres-password.secret';
CREATE DATABASE whistlebox OWNER whistlebox;
CREATE ROLE replicator LOGIN REPLICATION PASSWORD 'change me too';
-- Say it for the role as well, so no client can turn durability off for whistlebox's sessions.
ALTER ROLE whistlebox SET synchronous_commit = on;
ALTER ROLE whistlebox SET log_statement = 'none';
