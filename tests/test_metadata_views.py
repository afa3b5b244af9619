"""The metadata views: on a local lake and on S3 (moto), and the SQL files' headers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import boto3
import duckdb
import pytest

from pipeline.metadata import SCHEMAS, import_files, register_views
from pipeline import queries
from pipeline.lake.storage import Store

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"
SNAPSHOT = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)


def _counts(con) -> dict:
    return {t: con.execute(f"SELECT count(*) FROM {'eni_assignment_evidence_stored' if t == 'eni_assignments' else t}"
                           ).fetchone()[0] for t in SCHEMAS}


@pytest.mark.parametrize("query", queries.metadata_views(), ids=lambda q: q.name)
def test_sql_headers(query):
    assert query.sql.startswith("-- name: ")
    for key in ("name", "title", "why", "category", "method"):
        assert query.header.get(key), f"{query.name}: -- {key}: missing"
    assert query.why.endswith("?") or query.why.endswith(".")


def test_views_without_any_metadata(tmp_path):
    con = duckdb.connect()
    created = register_views(con, Store.open(tmp_path / "empty"))
    assert "flows_with_owners" not in created  # no flows view
    assert all(n == 0 for n in _counts(con).values())
    for table in SCHEMAS:
        if table != "eni_assignments":
            columns = [d[0] for d in con.execute(f"SELECT * FROM current_{table} LIMIT 0").description]
            assert columns == SCHEMAS[table].names
    con.execute("INSERT INTO resolve_input VALUES ('10.0.0.1', NULL, NULL), ('8.8.8.8', NULL, NULL)")
    assert sorted(con.execute("SELECT address, owner_kind FROM resolve").fetchall()) == [
        ("10.0.0.1", "private"), ("8.8.8.8", "internet")]


def test_register_views_twice_on_one_connection(tmp_path):
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES], snapshot_time=SNAPSHOT)
    con = duckdb.connect()
    register_views(con, store)
    first = _counts(con)
    register_views(con, store)
    assert _counts(con) == first


def test_views_on_an_s3_lake(aws, tmp_path):
    """On S3 the Parquet files are read through pyarrow datasets on the store's filesystem."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="meta-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    host = aws.removeprefix("http://")
    s3 = Store.open("s3://meta-lake/lake", s3_options={
        "endpoint_override": host, "scheme": "http", "access_key": "testing", "secret_key": "testing",
        "region": "eu-west-1"})
    local = Store.open(tmp_path / "local")
    for store in (s3, local):
        import_files(store, [FIXTURES], snapshot_time=SNAPSHOT)
    assert s3.list_files("metadata/vpcs", ".parquet")
    on_s3, on_disk = duckdb.connect(), duckdb.connect()
    register_views(on_s3, s3)
    register_views(on_disk, local)
    assert _counts(on_s3) == _counts(on_disk) and _counts(on_s3)["network_interfaces"] == 10
    query = "SELECT task_id, ip, valid_from, valid_to FROM eni_assignments ORDER BY ip, valid_from"
    assert on_s3.execute(query).fetchall() == on_disk.execute(query).fetchall()
    on_s3.execute("INSERT INTO resolve_input VALUES ('10.20.1.41', NULL, NULL)")
    assert on_s3.execute("SELECT owner_kind, owner_id, aws_service FROM resolve").fetchall() == [
        ("vpc_endpoint", "vpce-0a1b2c3d4e5f60041", "sqs")]


def test_materialized_views_give_the_same_rows(tmp_path):
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES], snapshot_time=SNAPSHOT)
    plain, materialized = duckdb.connect(), duckdb.connect()
    register_views(plain, store)
    created = register_views(materialized, store, materialize=True)
    assert "eni_assignments_data" in created and "flow_address_owners_data" not in created  # no flows view
    query = "SELECT * FROM eni_assignments ORDER BY task_key, ip"
    assert materialized.execute(query).fetchall() == plain.execute(query).fetchall()
    for con in (plain, materialized):
        con.execute("INSERT INTO resolve_input VALUES ('10.20.1.37', '2024-05-01T08:03:00Z', NULL)")
    assert materialized.execute("SELECT * FROM resolve").fetchall() == plain.execute("SELECT * FROM resolve").fetchall()


def test_views_for_peoples_sql_only_are_read_by_no_analysis_query_and_left_out_of_reports(sample_lake):
    """``audience: sql`` views (flows_with_owners, resolve) are what people query; no other query reads
    what they create, so the reports' connection leaves them out (binding them costs per data file)."""
    from pipeline.analysis import connection

    people = [q for q in queries.metadata_views() if q.header.get("audience") == "sql"]
    assert {q.name for q in people} >= {"flows_with_owners", "resolve"}
    made = set().union(*(q.creates for q in people))
    for query in queries.registry().values():
        if query not in people:
            assert not query.reads & made, f"{query.name} reads {query.reads & made}, made for people's SQL only"

    store = sample_lake
    names = lambda con: {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    everything, reports = names(connection.connect(store)), names(connection.connect(store, reports=True))
    assert {"flows_with_owners", "flow_address_owners"} <= everything
    assert not made & reports and {"eni_assignments", "address_owners", "current_prefix_lists"} <= reports
