"""Athena: the DDL of every lake table (checked against the Parquet the lake really writes, and by sqlglot's
Athena parser), ``athena ddl --apply`` and queries end to end through boto3 against the moto server.

Nothing here ran on real Athena. moto stores queries and answers with the rows a test queues
(``/moto-api/static/athena/query-results``); it does not run SQL, does not page GetQueryResults, reports
0 bytes scanned and never fails a query. ``AthenaPaging`` adds, on the real client's answers, what
Athena does there (pages of MaxResults rows with a NextToken, the bytes scanned, a FAILED state).

The wire: botocore (1.44 here) speaks Athena's rest-json protocol, which moto 5.2 does not route (it
answers 404); both read service models from a data path, so ``athena_moto`` gives the client
(``AWS_DATA_PATH``) and its own moto server (``~/.aws/models``) the same model converted to the JSON
protocol Athena also speaks (X-Amz-Target ``AmazonAthena.*``): the same operations, parameters and
answers, another encoding. The rest-json encoding itself is not exercised.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.dataset
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp
from typer.testing import CliRunner

from conftest import running_moto_server
from pipeline import queries
from pipeline.analysis import connection as analysis
from pipeline.cli import app
from pipeline.engines import athena, dialect
from pipeline.errors import FlowlogsError
from pipeline.lake import store as lake
from pipeline.metadata.schema import SCHEMAS as METADATA_SCHEMAS
from pipeline.settings import Settings
from pipeline.tables import TABLES, athena_type

REGION = "eu-west-1"  # the aws fixture's AWS_DEFAULT_REGION
BUCKET = "lake-bucket"
LOCATION = f"s3://{BUCKET}/lake"
RESULTS = "s3://athena-results/flowlogs/"


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5)


def queue_results(moto: str, *results: tuple[list[tuple[str, str]], list[list[str | None]]]) -> None:
    """Queue answers in moto, in the order queries will ask: (columns as (name, type), rows as text) each,
    the header row first as Athena sends it for a SELECT."""
    body = {"region": REGION, "results": [
        {"rows": [{"Data": [{"VarCharValue": n} for n, _ in columns]}]
                 + [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows],
         "column_info": [{"Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN"} for n, t in columns]}
        for columns, rows in results]}
    _post(f"{moto}/moto-api/static/athena/query-results", body)


class AthenaPaging:
    """Hooks on a real boto3 client talking to moto, for what moto leaves out: GetQueryResults answers in
    pages of MaxResults rows with a NextToken (moto sends every row at once), GetQueryExecution reports
    ``scanned`` bytes and, for queries matching ``fail``, the FAILED state with a reason."""

    def __init__(self, client, scanned: int = 0, fail: str | None = None, reason: str = ""):
        self.client, self.scanned, self.fail, self.reason = client, scanned, fail, reason
        self.pages: list[int] = []  # rows per page served
        self._asked: dict = {}
        events = client.meta.events
        events.register("provide-client-params.athena.GetQueryResults", self._remember)
        events.register("after-call.athena.GetQueryResults", self._page)
        events.register("after-call.athena.GetQueryExecution", self._execution)

    def _remember(self, params, **_):
        self._asked = dict(params)

    def _page(self, parsed, **_):
        rows = parsed["ResultSet"]["Rows"]
        start = int(self._asked.get("NextToken") or 0)
        size = self._asked.get("MaxResults") or 1000
        parsed["ResultSet"]["Rows"] = rows[start:start + size]
        self.pages.append(len(parsed["ResultSet"]["Rows"]))
        if start + size < len(rows):
            parsed["NextToken"] = str(start + size)

    def _execution(self, parsed, **_):
        execution = parsed["QueryExecution"]
        execution["Statistics"]["DataScannedInBytes"] = self.scanned
        if self.fail and re.search(self.fail, execution["Query"]):
            execution["Status"].update(State="FAILED", StateChangeReason=self.reason)


class Answers:
    """Hooks on a real boto3 client talking to moto: GetQueryResults of a query whose SQL matches one of the
    patterns gets that answer ((columns as (name, type), rows as text), the header row first as Athena sends it;
    or a function of the match giving it) instead of moto's empty one; ``answered`` lists the patterns used, in
    order."""

    def __init__(self, client, answers: dict[str, tuple[list[tuple[str, str]], list[list[str | None]]]]):
        self.answers, self.answered = answers, []
        self._sql: dict[str, str] = {}
        self._starting = self._asked = None
        events = client.meta.events
        events.register("provide-client-params.athena.StartQueryExecution", self._start)
        events.register("after-call.athena.StartQueryExecution", self._started)
        events.register("provide-client-params.athena.GetQueryResults", self._ask)
        events.register("after-call.athena.GetQueryResults", self._answer)

    def _start(self, params, **_):
        self._starting = params["QueryString"]

    def _started(self, parsed, **_):
        self._sql[parsed["QueryExecutionId"]] = self._starting

    def _ask(self, params, **_):
        self._asked = params["QueryExecutionId"]

    def _answer(self, parsed, **_):
        for pattern, answer in self.answers.items():
            match = re.search(pattern, self._sql[self._asked])
            if match:
                self.answered.append(pattern)
                columns, rows = answer(match) if callable(answer) else answer
                parsed["ResultSet"] = {
                    "Rows": [{"Data": [{"VarCharValue": n} for n, _ in columns]}]
                    + [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows],
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Label": n, "Type": t} for n, t in columns]}}
                return


def sent(client) -> list[str]:
    """The queries moto received, in order."""
    ids = client.list_query_executions()["QueryExecutionIds"]
    executions = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return [e["Query"] for e in sorted(executions, key=lambda e: e["Status"]["SubmissionDateTime"])]


def json_protocol_model(home: Path) -> Path:
    """The installed botocore Athena model, with the JSON protocol, under ``home``/.aws/models (returned)."""
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("athena", "service-2")
    version = model["metadata"]["apiVersion"]
    model["metadata"].update(protocol="json", protocols=["json"], jsonVersion="1.1", targetPrefix="AmazonAthena")
    for operation in model["operations"].values():
        operation["http"] = {"method": "POST", "requestUri": "/"}
    for shape in model["shapes"].values():
        for member in shape.get("members", {}).values():
            member.pop("location", None)
            member.pop("locationName", None)
    models = home / ".aws" / "models"
    (models / "athena" / version).mkdir(parents=True)
    (models / "athena" / version / "service-2.json").write_text(json.dumps(model))
    return models


@pytest.fixture(scope="module")
def athena_moto(tmp_path_factory):
    """A moto server of this module's own, reading the JSON-protocol Athena model; (its URL, the model path)."""
    home = tmp_path_factory.mktemp("athena-home")
    models = json_protocol_model(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        with running_moto_server() as url:
            mp.undo()
            yield url, models


@pytest.fixture
def aws(athena_moto, monkeypatch):
    """The conftest's ``aws`` settings, pointing at this module's moto server (reset) and model."""
    url, models = athena_moto
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                        "AWS_ENDPOINT_URL": url, "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_DATA_PATH": str(models)}.items():
        monkeypatch.setenv(name, value)
    # boto3.client() reuses a default session made by an earlier test, whose loader never read AWS_DATA_PATH
    # (it would send rest-json, which moto answers 404): start a new one here
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return url


@pytest.fixture
def s3_sample_lake(aws, sample_lake):
    """The sample lake's files copied as they are to a bucket on moto: a lake on S3."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    root = Path(sample_lake.root)
    for path in root.rglob("*"):
        if path.is_file() and "_staging" not in path.parts:
            s3.put_object(Bucket=BUCKET, Key=f"lake/{path.relative_to(root).as_posix()}", Body=path.read_bytes())
    return sample_lake


# --- DDL -------------------------------------------------------------------------------------------------

def _parsed(statement: str) -> exp.Create:
    tree = sqlglot.parse_one(statement, read="athena")
    assert isinstance(tree, exp.Create), statement[:200]  # not a Command: sqlglot understood the whole statement
    return tree


def _properties(tree: exp.Create) -> dict[str, str]:
    return {p.name: p.text("value") for p in tree.find_all(exp.Property) if not isinstance(p, exp.PartitionedByProperty)
            and p.name}


def test_ddl_covers_every_lake_table_with_the_schema_the_lake_writes(sample_lake):
    made = athena.ddl(sample_lake, "flowlogs", LOCATION)
    by_name = {t.name: t for t in made.tables}
    expected = ({f"_{t.name}_rows" if t.unique else t.name for t in TABLES.values()} | {"quarantine"}
                | {"eni_assignment_evidence_stored" if t == "eni_assignments" else t for t in METADATA_SCHEMAS})
    assert set(by_name) == expected
    current = [f"current_{t}" for t in METADATA_SCHEMAS if t not in ("eni_assignments", "prefix_lists")]
    metadata_views = {"current_prefix_lists", "flow_eni_assignment_evidence", "eni_assignment_evidence", "eni_assignments",
                      "eni_assignment_intervals", "vpc_cidr_ranges", "subnet_cidr_ranges", "aws_ip_range_keys",
                      "address_owners"}  # all of queries/' but flows_with_owners' and resolve's (athena.NOT_MADE)
    assert set(v for v, _ in made.views) == {"api_calls", "current_prefix_list_rows", *metadata_views, *current}
    compared = 0
    root = Path(sample_lake.root)
    for table in made.tables:
        folder = table.location.removeprefix(LOCATION + "/").rstrip("/")
        files = sorted((root / folder).rglob("*.parquet"))
        declared = dict(table.columns)
        for file in files:  # the schema pyarrow reads from each file the lake wrote: the same names and types
            schema = pq.read_schema(file)
            assert {f.name: athena_type(f.type) for f in schema} == declared, file
            compared += 1
        partitions = {p.split("=", 1)[0] for f in files for p in f.relative_to(root / folder).parts[:-1]}
        assert partitions == (set(lake.PARTITION_KEYS) if files and table.partitions else set()), table.name
    assert compared >= 10  # flows, interface_status, metadata tables… of the sample account
    assert {"flows", "interface_status", "network_interfaces", "vpc_endpoints"} <= {
        t.name for t in made.tables if list((root / t.location.removeprefix(LOCATION + "/")).rglob("*.parquet"))}


def _listed_unions(tree) -> list[exp.Union]:
    """The UNIONs ``dialect.expand_columns`` wrote from a UNION BY NAME: each side a SELECT of its columns FROM
    (the side as written) AS _by_name."""
    def written(side):
        source = side.args.get("from_") if isinstance(side, exp.Select) else None
        return source is not None and isinstance(source.this, exp.Subquery) and source.this.alias == "_by_name"

    return [u for u in tree.find_all(exp.Union) if written(u.left) and written(u.right)]


def _unions_by_name(tree) -> int:
    """How many UNION BY NAME ``tree`` holds written with their columns listed; each must list the same names, in
    one order, on both sides (Trino matches a UNION's columns by position)."""
    unions = _listed_unions(tree)
    for union in unions:
        assert union.left.named_selects == union.right.named_selects and "*" not in union.left.named_selects
    return len(unions)


def test_every_statement_parses_and_every_partition_key_is_projected(sample_lake):
    made = athena.ddl(sample_lake, "flowlogs", LOCATION)
    statements = made.statements()
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `flowlogs`"
    assert len(statements) == 1 + len(made.tables) + len(made.views)
    for statement in statements[1:1 + len(made.tables)]:
        tree = _parsed(statement)
        assert tree.args["kind"] == "TABLE" and tree.find(exp.ExternalProperty) is not None
        partitioned = tree.find(exp.PartitionedByProperty)
        keys = [c.name for c in partitioned.this.expressions] if partitioned else []
        props = _properties(tree)
        assert keys in ([], list(lake.PARTITION_KEYS)), keys
        assert (props.get("projection.enabled") == "true") == bool(keys)
        for key in keys:
            kind = props[f"projection.{key}.type"]
            assert kind in ("enum", "integer", "date", "injected")
            if kind == "enum":
                assert props[f"projection.{key}.values"]
            if kind == "date":
                assert props[f"projection.{key}.format"] == "yyyy-MM-dd" and props[f"projection.{key}.range"].endswith(",NOW")
        assert tree.find(exp.FileFormatProperty).name.upper() == "PARQUET"
        assert props["location"].startswith(LOCATION + "/") if "location" in props else True
    made_so_far = {t.name for t in made.tables}
    by_name = {}
    for name, view in made.views:  # views (one row per event, the current configuration): Athena's Trino SQL
        tree = sqlglot.parse_one(view, read="trino")
        assert isinstance(tree, exp.Create) and tree.args["kind"] == "VIEW" and "QUALIFY" not in view
        assert not re.search(r"\b(EXCLUDE|EXCEPT|BY NAME|UBIGINT|ASOF)\b|\* REPLACE \(", view), view[:300]
        called = {n.lower() for n in re.findall(r"\b([A-Za-z_]\w*)\s*\(", re.sub(r"'[^']*'", "''", view))}
        assert not called & (_macro_names() | set(athena.TRINO_MACROS) | DUCKDB_ONLY), (name, called)
        ctes = {c.alias for c in tree.find_all(exp.CTE)}
        read = {t.name for t in tree.expression.find_all(exp.Table) if t.name not in ctes}
        assert read and all(t.db == "flowlogs" for t in tree.expression.find_all(exp.Table) if t.name not in ctes)
        assert read <= made_so_far, (name, read - made_so_far)  # made before, in the same database
        made_so_far.add(name)
        by_name[name] = _unions_by_name(tree)
    assert {n: c for n, c in by_name.items() if c} == {"eni_assignment_evidence": 1, "address_owners": 1}


def test_projection_reaches_every_partition_the_lake_holds(sample_lake):
    made = athena.ddl(sample_lake, "flowlogs", LOCATION)
    flows = next(t for t in made.tables if t.name == "flows")
    accounts = flows.partitions["aws_account"]["values"].split(",")
    regions = flows.partitions["aws_region"]["values"].split(",")
    first = flows.partitions["dt"]["range"].split(",")[0]
    seen = 0
    for table in TABLES:
        for path in sample_lake.list_files(table, ".parquet"):
            parts = dict(p.split("=", 1) for p in path.split("/")[1:-1])
            assert parts["aws_account"] in accounts and parts["aws_region"] in regions
            assert parts["dt"] >= first or made.unknown_days.get(table)
            seen += 1
    assert seen and "unknown" in accounts and "unknown" in regions


def test_a_local_lake_and_a_bad_database_name_are_refused(sample_lake):
    with pytest.raises(FlowlogsError, match="Athena reads tables from S3"):
        athena.ddl(sample_lake, "flowlogs")
    with pytest.raises(FlowlogsError, match="--database"):
        athena.ddl(sample_lake, "Flow-Logs", LOCATION)


def test_ddl_apply_against_moto_runs_one_query_per_statement(s3_sample_lake, aws):
    result = CliRunner().invoke(app, ["athena", "ddl", "--lake", LOCATION, "--database", "flowlogs", "--apply",
                                      "--workgroup", "primary", "--athena-output", RESULTS])
    assert result.exit_code == 0, result.output
    printed = [s.strip() for s in result.stdout.split(";\n\n")]
    client = boto3.client("athena")
    queries_sent = sent(client)
    assert [q.strip().rstrip(";") for q in queries_sent] == [p.rstrip(";") for p in printed]
    tables = [q for q in queries_sent if q.startswith("CREATE EXTERNAL TABLE")]
    assert len(tables) == 1 + len(TABLES) + len(METADATA_SCHEMAS)  # quarantine, the record and metadata tables
    assert f"LOCATION '{LOCATION}/flows/'" in next(q for q in tables if "`flowlogs`.`flows`" in q)
    assert client.get_database(CatalogName="AwsDataCatalog", DatabaseName="flowlogs")["Database"]["Name"] == "flowlogs"
    ids = client.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]
    first = client.get_query_execution(QueryExecutionId=ids[0])["QueryExecution"]
    assert first["ResultConfiguration"]["OutputLocation"].startswith(RESULTS)
    assert first["QueryExecutionContext"]["Database"] == "default"
    assert f"applied {len(queries_sent)} statements in workgroup primary" in result.stderr


def test_apply_in_a_workgroup_that_does_not_exist_says_so(s3_sample_lake, aws):
    result = CliRunner().invoke(app, ["athena", "ddl", "--lake", LOCATION, "--apply", "--workgroup", "nope"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "athena:StartQueryExecution on workgroup nope failed" in result.stderr
    assert "WorkGroup does not exist" in result.stderr


# --- queries ---------------------------------------------------------------------------------------------

@pytest.fixture
def athena_con(aws):
    settings = Settings(workgroup="primary", athena_output=RESULTS, database="flowlogs")
    con = athena.connect(None, settings, client=boto3.client("athena"))
    con.poll_first = 0.01
    return con


def test_a_saved_question_end_to_end(athena_con, aws):
    """rejects.sql with its parameters: transpiled and bound, sent, polled while moto moves it from QUEUED to
    RUNNING to SUCCEEDED, its answer read in pages and typed."""
    client = athena_con.client
    paging = AthenaPaging(client, scanned=3 << 30)
    athena_con.page_size = 2
    columns = [("interface_id", "varchar"), ("source", "varchar"), ("destination", "varchar"), ("port", "integer"),
               ("protocol", "integer"), ("direction", "varchar"), ("flows", "bigint"), ("packets", "bigint"),
               ("first_seen", "timestamp"), ("last_seen", "timestamp")]
    rows = [["eni-1", "10.0.1.5", "10.0.9.9", "443", "6", "egress", str(9 - i), "12",
             f"2026-11-27 09:3{i}:00.000", "2026-11-27 10:00:00.000"] for i in range(5)]
    rows[4][5] = None
    queue_results(aws, (columns, rows))
    _post(f"{aws}/moto-api/state-manager/set-transition",
          {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1}})
    try:
        query = queries.get("rejects")
        params = query.param_values({"since": "2026-11-27T09:00Z", "port": "443"})
        cur = athena_con.execute(query.sql, params)
    finally:
        _post(f"{aws}/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})
    [text] = sent(client)
    assert "$" not in text and ":since" not in text and "GROUP BY ALL" not in text
    assert "FROM_UNIXTIME(MIN(\"start\"))" in text and "dstport = 443" in text and f'"end" >= {int(datetime(2026, 11, 27, 9, tzinfo=timezone.utc).timestamp())}' in text
    assert "NULL IS NULL" in text  # until: absent, bound as NULL
    assert re.search(r"GROUP BY\s+1,\s*2,\s*3,\s*4,\s*5,\s*6\b", text)
    assert isinstance(sqlglot.parse_one(text, read="trino"), exp.Select)
    assert [d[0] for d in cur.description] == [n for n, _ in columns]
    got = cur.fetchall()
    assert paging.pages == [2, 2, 2]  # the header row and five rows, two a page
    assert len(got) == 5 and got[0] == ("eni-1", "10.0.1.5", "10.0.9.9", 443, 6, "egress", 9, 12,
                                         datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc),
                                         datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc))
    assert got[4][5] is None and [r[6] for r in got] == [9, 8, 7, 6, 5]
    [run] = athena_con.runs
    assert run.scanned == 3 << 30 and run.state == "SUCCEEDED"
    assert athena_con.summary() == ("Athena: 1 queries, scanned 3,221.2 MB, ~$0.0146 at $5/TB "
                                    "(billed 3,221.2 MB: 10 MB a query at least)")
    assert cur.fetchone() is None


def test_a_failed_query_raises_athenas_reason(athena_con, aws):
    AthenaPaging(athena_con.client, fail="no_such_table",
                 reason="TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.flowlogs.no_such_table' does not exist")
    with pytest.raises(FlowlogsError) as raised:
        athena_con.execute("SELECT count(*) FROM no_such_table")
    assert re.match(r"Athena query [0-9a-f-]+ failed: TABLE_NOT_FOUND: line 1:15: Table "
                    r"'awsdatacatalog.flowlogs.no_such_table' does not exist$", raised.value.message)
    assert "SELECT COUNT(*) FROM no_such_table" in raised.value.hint
    assert athena_con.summary().startswith("Athena: 1 queries, scanned 0.0 MB, ~$0.0000")


def test_temp_tables_become_session_tables_under_the_output_and_are_dropped(athena_con, aws):
    con = athena_con
    # moto hands queued answers out as queries start: none for the DROP and the CTAS (DDL: not read), the SELECT's
    queue_results(aws, ([], []), ([], []), ([("n", "bigint")], [["3"]]))
    made = con.execute("CREATE OR REPLACE TEMP TABLE pairs AS SELECT srcaddr, dstaddr FROM flows WHERE action = $a",
                       {"a": "REJECT"})
    assert made.fetchall() == [] and made.description == []
    assert con.execute("SELECT count(*) AS n FROM pairs").fetchall() == [(3,)]
    con.close()
    texts = sent(con.client)
    scratch = f"tmp_{con.session}_pairs"
    assert texts[0] == f"DROP TABLE IF EXISTS `{scratch}`"
    assert texts[1] == (f"CREATE TABLE \"{scratch}\" WITH (format = 'PARQUET', external_location = "
                        f"'{RESULTS}flowlogs-scratch/{con.session}/pairs/') AS SELECT srcaddr, dstaddr FROM flows "
                        "WHERE action = 'REJECT'")
    assert texts[2] == f'SELECT COUNT(*) AS n FROM "{scratch}"' and texts[3] == f"DROP TABLE IF EXISTS `{scratch}`"


def test_what_athena_cannot_run_is_refused_before_anything_is_sent(athena_con, monkeypatch):
    con = athena_con
    with pytest.raises(FlowlogsError, match=r"MODE\(x ORDER BY y\) is not mapped for Athena"):
        con.execute("SELECT mode(x ORDER BY y) FROM flows")
    with pytest.raises(FlowlogsError, match=r"CAST\('0x' \|\| HEX\(k\)\[2:17\] AS UBIGINT\) is not mapped"):
        con.execute("SELECT CAST('0x' || hex(k)[2:17] AS UBIGINT) FROM t")
    monkeypatch.setattr(athena, "MAX_INLINE_ROWS", 2)
    with pytest.raises(FlowlogsError, match=r"finding_keys: 3 rows are too many to send to Athena inline \(at most 2\)"):
        con.register("finding_keys", pa.table({"finding": [0, 1, 2]}))
    with pytest.raises(FlowlogsError, match=r"registering FileSystemDataset \(x\) as a table is not possible on Athena"):
        con.register("x", pyarrow.dataset.dataset([], schema=pa.schema([("a", pa.int64())]), format="parquet"))
    with pytest.raises(FlowlogsError, match=r"no value for parameter \$port"):
        con.execute("SELECT * FROM flows WHERE dstport = $port", {})
    no_output = athena.connect(None, Settings(), client=con.client)
    with pytest.raises(FlowlogsError, match="--athena-output"):
        no_output.execute("CREATE TEMP TABLE t AS SELECT 1 AS x")
    assert sent(con.client) == []


def test_parameters_are_literals_that_cannot_break_out(athena_con):
    [select] = sqlglot.parse("SELECT * FROM flows WHERE srcaddr = $a AND list_contains($enis, interface_id) "
                             "AND dstport IN (?, ?)", read="duckdb")
    [text] = athena_con.translate(select, {"a": "x' OR '1'='1", "enis": None}, iter([443, None]))
    assert "srcaddr = 'x'' OR ''1''=''1'" in text and "CONTAINS(CAST(NULL AS ARRAY(VARCHAR)), interface_id)" in text
    assert "dstport IN (443, NULL)" in text
    [text] = athena_con.translate(select, {"a": "b", "enis": ["eni-1", "eni-2"]}, iter([1, 2]))
    assert "CONTAINS(ARRAY['eni-1', 'eni-2'], interface_id)" in text


@pytest.mark.parametrize("type_, text, value", [
    ("varchar", "a, b", "a, b"), ("integer", "-4", -4), ("bigint", "9007199254740993", 9007199254740993),
    ("double", "0.5", 0.5), ("boolean", "true", True), ("boolean", "false", False),
    ("date", "2026-11-27", datetime(2026, 11, 27).date()),
    ("timestamp", "2026-11-27 09:30:01.250", datetime(2026, 11, 27, 9, 30, 1, 250000, tzinfo=timezone.utc)),
    ("timestamp with time zone", "2026-11-27 10:30:01.000 +01:00",
     datetime(2026, 11, 27, 9, 30, 1, tzinfo=timezone.utc)),
    ("array", "[sg-1, sg-2]", ["sg-1", "sg-2"]), ("array", "[]", []), ("varbinary", "0a ff", b"\n\xff"),
    ("decimal(10,2)", "1.50", __import__("decimal").Decimal("1.50")), ("varchar", None, None),
])
def test_cells_are_typed_from_the_column_type(type_, text, value):
    assert athena.convert(text, type_) == value


def test_cost_is_bytes_times_the_price():
    assert athena.cost(1 << 40) == athena.PRICE_PER_TB == 5.0
    ddl = athena.QueryRun("q", "CREATE EXTERNAL TABLE x (a int)", "SUCCEEDED", 0, 1)
    small = athena.QueryRun("q", "SELECT 1", "SUCCEEDED", 1234, 1)
    failed = athena.QueryRun("q", "SELECT 1", "FAILED", 0, 1)
    assert ddl.billed == 0 and small.billed == athena.MIN_BILLED_BYTES and failed.billed == 0
    assert athena.QueryRun("q", "SELECT 1", "SUCCEEDED", (11 << 20) + 1, 1).billed == 12 << 20


def test_the_analysis_builds_conversations_and_destinations_on_athena(athena_con, aws):
    """The analysis's own code (findings.build_conversations: flow_bounds and the conversations query as CTAS
    scratch tables), the questions over them (no_return), and the destinations: the DuckDB macro address_static()
    expanded in place and the Python functions it calls written in Trino SQL."""
    from pipeline.analysis import findings

    con = athena_con
    bounds = [("first", "bigint"), ("last", "bigint")]
    answer = [("client_addr", "varchar"), ("server_addr", "varchar"), ("port", "integer"), ("protocol", "integer"),
              ("requests", "bigint"), ("flows", "bigint"), ("first_seen", "timestamp with time zone"),
              ("last_seen", "timestamp with time zone"), ("source_eni", "varchar"), ("interfaces", "array")]
    no_rows = ([], [])
    queue_results(aws, no_rows, no_rows, (bounds, [["1764234000", "1764237600"]]), no_rows, no_rows,
                  (answer, [["10.0.1.5", "10.0.200.7", "443", "6", "4", "4", "2025-11-27 09:00:00.000 UTC",
                             "2025-11-27 09:05:00.000 UTC", "eni-1", "[eni-1, eni-2]"]]))
    used = findings.build_conversations(con, findings.Window())
    assert used["since"] == 1764234000 and used["until"] == 1764237601
    rows = findings.rows(con, queries.get("no_return").sql, queries.get("no_return").param_values({}))
    assert rows == [{"client_addr": "10.0.1.5", "server_addr": "10.0.200.7", "port": 443, "protocol": 6,
                     "requests": 4, "flows": 4, "first_seen": datetime(2025, 11, 27, 9, tzinfo=timezone.utc),
                     "last_seen": datetime(2025, 11, 27, 9, 5, tzinfo=timezone.utc), "source_eni": "eni-1",
                     "interfaces": ["eni-1", "eni-2"]}]
    texts = sent(con.client)
    conversations = f"tmp_{con.session}_conversations"
    assert [t.split(" AS ")[0] for t in texts[:5]] == [
        f"DROP TABLE IF EXISTS `tmp_{con.session}_flow_bounds`",
        f"CREATE TABLE \"tmp_{con.session}_flow_bounds\" WITH (format = 'PARQUET', external_location = "
        f"'{RESULTS}flowlogs-scratch/{con.session}/flow_bounds/')",
        f'SELECT * FROM "tmp_{con.session}_flow_bounds"', f"DROP TABLE IF EXISTS `{conversations}`", f'CREATE TABLE "{conversations}" WITH '
        f"(format = 'PARQUET', external_location = '{RESULTS}flowlogs-scratch/{con.session}/conversations/')"]
    assert 'MIN("start")' in texts[1] and "1764237601" in texts[4] and "$" not in texts[4] and sqlglot.parse_one(texts[4], read="trino")
    assert "BITWISE_AND(tcp_flags, 18)" in texts[4] and "flow_reduction(" not in texts[4].lower()  # the macro, expanded
    assert f'FROM "{conversations}"' in texts[5] and "state = 'no_reply'" in texts[5]
    findings.lake_bounds(con)  # made already (the session knows it): only the SELECT is sent
    assert len(sent(con.client)) == 7
    findings.materialise(con, "addresses")
    findings.materialise(con, "destinations")
    texts = sent(con.client)[7:]
    assert [t.split(" WITH ")[0] for t in texts] == [
        f"DROP TABLE IF EXISTS `tmp_{con.session}_addresses`", f'CREATE TABLE "tmp_{con.session}_addresses"',
        f"DROP TABLE IF EXISTS `tmp_{con.session}_destinations`", f'CREATE TABLE "tmp_{con.session}_destinations"']
    destinations = texts[3]
    assert not re.search(r"\b(address_static|query_table|ip_key|ip_is_global|hex)\s*\(|UBIGINT", destinations, re.I)
    assert f'FROM "tmp_{con.session}_addresses"' in destinations  # query_table(input_name): the relation named
    assert "CAST(TRY_CAST(TRIM(address) AS IPADDRESS) AS VARBINARY)" in destinations  # ip_key(address)
    assert "FROM_BIG_ENDIAN_64(SUBSTR(" in destinations  # the UBIGINT halves of the key
    assert isinstance(sqlglot.parse_one(destinations, read="trino"), exp.Create)


def test_without_sqlglot_the_error_says_which_extra_to_install(monkeypatch, sample_lake):
    monkeypatch.setitem(__import__("sys").modules, "sqlglot", None)  # as if not installed: import fails
    with pytest.raises(FlowlogsError, match="sqlglot") as raised:
        athena.connect(None, Settings(), client=object())
    assert raised.value.hint == "pip install 'fargate-flowlogs[athena]'"
    with pytest.raises(FlowlogsError, match="sqlglot"):
        athena.ddl(sample_lake, "flowlogs", LOCATION)


def test_ddl_of_a_local_lake_is_refused_on_the_command_line(sample_lake):
    result = CliRunner().invoke(app, ["athena", "ddl", "--lake", sample_lake.uri])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: --lake {sample_lake.uri}: Athena reads tables from S3")
    assert "Hint: give the lake's S3 location" in result.stderr


def test_ctrl_c_while_waiting_stops_the_query_on_athena(athena_con, aws, monkeypatch):
    _post(f"{aws}/moto-api/state-manager/set-transition",
          {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 100}})
    monkeypatch.setattr(athena.time, "sleep", lambda _: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        with pytest.raises(KeyboardInterrupt):
            athena_con.execute("SELECT count(*) FROM flows")
    finally:
        _post(f"{aws}/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})
    [query_id] = athena_con.client.list_query_executions()["QueryExecutionIds"]
    state = athena_con.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"]
    assert state == "CANCELLED"


def test_load_network_reads_the_current_views_the_ddl_makes(athena_con, sample_lake):
    """analysis.load_network on Athena: each query it sends is Trino SQL over a table or view `athena ddl`
    makes (moto answers none: the network is empty, the statements are what is checked)."""
    from pipeline.analysis import connection as analysis

    network = analysis.load_network(athena_con)
    assert network.interfaces == {} and network.rules == []
    made = athena.ddl(sample_lake, "flowlogs", LOCATION)
    known = {t.name for t in made.tables} | {v for v, _ in made.views}
    texts = sent(athena_con.client)
    assert len(texts) >= 15
    for text in texts:
        tree = sqlglot.parse_one(text, read="trino")
        read = {t.name for t in tree.find_all(exp.Table)}
        assert read and read <= known, (text, read - known)


# --- report findings, end to end ----------------------------------------------------------------------------

DUCKDB_ONLY = {"mode", "arg_min", "arg_max", "list", "list_contains", "list_sort", "list_distinct", "list_concat",
               "struct_pack", "epoch", "hex", "read_parquet", "query_table", "duckdb_views", "duckdb_tables"}
"""Functions of queries/ that DuckDB has and Trino does not (by name: Trino's are to_hex, max_by, arbitrary…)."""


def _macro_names() -> set[str]:
    return {m.lower() for q in queries.registry().values()
            for m in re.findall(r"CREATE\s+OR\s+REPLACE\s+(?:TEMP\s+)?MACRO\s+(\w+)", q.sql, re.I)}


def _report_findings_on_athena(lake_on_s3, monkeypatch):
    """``report findings --engine athena`` over the sample lake on S3, through the CLI, after DuckDB's run of the same
    report. moto runs no SQL: the lake's real bounds (DuckDB's) answer flow_bounds, an empty conversation span answers
    its query, a session table's ``LIMIT 0`` gets DuckDB's columns of that table, every other query gets no rows.
    Returns (the Athena client, the DuckDB connection of DuckDB's run, with its temp tables, the CLI's result, the
    Answers, the session tables asked, the lake's bounds)."""
    from pipeline import aws as aws_module
    from pipeline.analysis import connection as analysis, findings

    duck = analysis.connect(lake_on_s3)  # DuckDB's run of the same report: its temp tables' real columns
    bounds = findings.lake_bounds(duck)
    findings.find(duck, analysis.load_network(duck))
    asked = []

    def columns_of(match):  # the columns of a session table, as Athena would say (the types are not read)
        asked.append(match.group(1))
        return [(d[0], "varchar") for d in duck.execute(f"SELECT * FROM {match.group(1)} LIMIT 0").description], []

    client = boto3.client("athena")
    answers = Answers(client, {
        r'^SELECT \* FROM "tmp_\w+_flow_bounds"$': ([("first", "bigint"), ("last", "bigint")], [[str(b) for b in bounds]]),
        r'^SELECT MIN\(first_seen\) AS first_seen, MAX\(last_seen\) AS last_seen FROM "tmp_\w+_conversations"$':
            ([("first_seen", "timestamp"), ("last_seen", "timestamp")], [[None, None]]),
        r'^SELECT \* FROM "tmp_[0-9a-f]{12}_(\w+)" LIMIT 0$': columns_of})
    made_client = aws_module.client
    monkeypatch.setattr(aws_module, "client",
                        lambda settings, service: client if service == "athena" else made_client(settings, service))
    result = CliRunner().invoke(app, ["--lake", LOCATION, "--engine", "athena", "--workgroup", "primary",
                                      "--athena-output", RESULTS, "--database", "flowlogs",
                                      "report", "findings", "--format", "json"])
    assert result.exit_code == 0, result.output
    return client, duck, result, answers, asked, bounds


def test_report_findings_on_athena_sends_only_trino_sql(s3_sample_lake, aws, monkeypatch):
    """``report findings --engine athena`` (``_report_findings_on_athena``): every statement sent parses whole in
    sqlglot's Athena dialect (Trino for queries, Hive for DDL; queries in Trino's too), none calls a DuckDB macro,
    Python function or DuckDB-only function, and every relation read is one `athena ddl` or the session makes."""
    from pipeline.times import iso

    client, _, result, answers, asked, (first, last) = _report_findings_on_athena(s3_sample_lake, monkeypatch)
    doc = json.loads(result.stdout)
    assert doc["findings"] == [] and doc["window"]["since"] == iso(first) and doc["window"]["until"] == iso(last + 1)
    assert answers.answered[:2] == list(answers.answers)[:1] * 2  # _check_window, then build_conversations

    texts = sent(client)
    assert len(texts) > 30
    client_session = re.match(r"DROP TABLE IF EXISTS `tmp_(\w+?)_flow_bounds`", texts[0]).group(1)
    forbidden = _macro_names() | set(athena.TRINO_MACROS) | DUCKDB_ONLY
    made = athena.ddl_relations()
    unmade = set()
    by_name = []
    expanded = 0  # findings.sql's kept: placed UNION ALL BY NAME bypassing, listed
    for text in texts:
        tree = sqlglot.parse_one(text, read="athena")
        assert not isinstance(tree, exp.Command), text[:200]  # understood whole, not passed through
        if not text.startswith("DROP TABLE"):  # Hive DDL (backquotes), as Athena takes DROP TABLE
            sqlglot.parse_one(text, read="trino")
        called = {name.lower() for name in re.findall(r"\b([A-Za-z_]\w*)\s*\(", re.sub(r"'[^']*'", "''", text))}
        assert not called & forbidden, (called & forbidden, text[:300])
        assert not re.search(r"\b(UBIGINT|ASOF|QUALIFY|EXCLUDE)\b|\$\w", text), text[:300]
        ctes = {c.alias for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.name and table.name not in ctes | made and not table.name.startswith(f"tmp_{client_session}"):
                unmade.add(table.name)
        if re.search(r"\bBY NAME\b|\* REPLACE \(", text):
            by_name.append(text)
        expanded += _unions_by_name(tree)
    # Every relation read is made by `athena ddl` or the session, and UNION BY NAME / * REPLACE are written with
    # their columns: the session tables' asked once each (LIMIT 0), the rest known from the DDL's schemas.
    assert unmade == set() and by_name == [] and expanded == 1
    assert sorted(asked) == sorted(set(asked)) and {"conversations", "destinations", "conversation_names"} <= set(asked)


# --- the columns listed for Athena, and the types on each side of its UNIONs, against DuckDB's on a real lake ----

@dataclass
class Prepared:
    """One statement an AthenaConnection made ready (``prepare``): the DuckDB statement as it came, its parameters,
    the connection, what ``prepare`` made of it, and the column lists ``_columns`` gave ``dialect.expand_columns``
    for it (UNION BY NAME's sides, the relations of ``* EXCLUDE`` / ``* REPLACE``), in order."""
    con: athena.AthenaConnection
    statement: exp.Expression
    named: dict
    values: list | None  # the ? parameters it took
    made: exp.Expression | None = None
    listed: list[list[str]] = field(default_factory=list)


def record_prepared(monkeypatch) -> list[Prepared]:
    """Every statement AthenaConnections make ready from now on, in order (Prepared), as they are made."""
    prepare, columns = athena.AthenaConnection.prepare, athena.AthenaConnection._columns
    records, preparing = [], []

    def recording_prepare(con, statement, named, positional=None):
        record = Prepared(con, statement.copy(), dict(named), None if positional is None else [])

        def taken():  # the ? values bind() takes, and no more (the iterator is the execute's, shared by statements)
            for value in positional:
                record.values.append(value)
                yield value

        records.append(record)
        preparing.append(record)
        try:
            record.made = prepare(con, statement, named, None if positional is None else taken())
        finally:
            preparing.pop()
        return record.made

    def recording_columns(con, query, anchor):
        listed = columns(con, query, anchor)
        if preparing:
            preparing[-1].listed.append(listed)
        return listed

    monkeypatch.setattr(athena.AthenaConnection, "prepare", recording_prepare)
    monkeypatch.setattr(athena.AthenaConnection, "_columns", recording_columns)
    return records


def on_duckdb(record: Prepared, duck) -> tuple[exp.Expression, list[list[str]]]:
    """``record``'s statement as DuckDB has it, made ready the way ``prepare`` makes it for Athena but for the SQL
    only Trino needs: the macros of ``queries/`` expanded (their DuckDB bodies; the Python functions stay DuckDB's
    UDFs), the parameters bound, and UNION BY NAME, ``* EXCLUDE``, ``* REPLACE`` listed by ``dialect.expand_columns``
    from the columns DuckDB gives each relation, asked in the same order as Athena's. Returns (the statement, those
    lists)."""
    macros = dialect.Macros()
    macros.scalar = {n: m for n, m in record.con.macros.scalar.items() if n not in athena.TRINO_MACROS}
    macros.table = dict(record.con.macros.table)
    tree = macros.expand(record.statement.copy())
    dialect.bind(tree, record.named, None if record.values is None else iter(record.values))
    real = []

    def columns(query, anchor):
        real.append(duck.sql(dialect.with_ctes(query, anchor).sql("duckdb")).columns)
        return real[-1]

    return dialect.expand_columns(tree, columns), real


def _relation(statement) -> exp.Expression:
    """The query of a CREATE … AS, or the statement itself."""
    return statement.expression if isinstance(statement, exp.Create) else statement


def _side_columns(side: exp.Select) -> list[tuple[str, bool]]:
    """Each column a listed UNION side gives, in order: (its name, True if the side's own column of that name, False
    if NULL because the side has none)."""
    columns = []
    for item in side.expressions:
        if isinstance(item, exp.Column) and not item.table:
            columns.append((item.name, True))
        else:
            assert isinstance(item, exp.Alias) and isinstance(item.this, exp.Null), item.sql("duckdb")
            columns.append((item.alias, False))
    return columns


def check_listed_columns(records: list[Prepared], duck) -> int:
    """For each statement whose columns Athena listed: each list ``_columns`` derived (sqlglot, from the schemas
    `athena ddl` knows and the session's tables) is the one DuckDB gives the same relation on the lake, names and
    order; the statement's own columns are DuckDB's; and each UNION written from a UNION BY NAME gives, on both
    sides, at each position, the column of that name (the side's own, else NULL for a column it lacks), in the order
    DuckDB's UNION BY NAME of the two sides gives them. Returns how many lists were compared."""
    compared = 0
    for record in records:
        if not record.listed:
            continue
        tree, real = on_duckdb(record, duck)
        where = " ".join(record.statement.sql("duckdb").split())[:300]
        assert record.listed == real, (where, [(a, d) for a, d in zip(record.listed, real) if a != d])
        compared += len(real)
        original = record.statement.copy()
        dialect.bind(original, record.named, None if record.values is None else iter(record.values))
        own = duck.sql(_relation(original).sql("duckdb")).columns
        assert duck.sql(_relation(tree).sql("duckdb")).columns == own, where
        assert _relation(record.made).named_selects == _relation(tree).named_selects, where
        unions = _listed_unions(record.made)
        assert len(unions) == len(_listed_unions(tree)), where
        for made, duckdb_union in zip(unions, _listed_unions(tree)):
            sides = [_side_columns(s) for s in (made.left, made.right)]
            assert sides == [_side_columns(s) for s in (duckdb_union.left, duckdb_union.right)], where
            written = [s.args["from_"].this.this for s in (duckdb_union.left, duckdb_union.right)]
            by_name = exp.Union(this=exp.Subquery(this=written[0].copy()), expression=exp.Subquery(this=written[1].copy()),
                                distinct=duckdb_union.args.get("distinct"), by_name=True)
            order = duck.sql(dialect.with_ctes(by_name, duckdb_union.left).sql("duckdb")).columns
            for side, inner in zip(sides, written):
                assert [name for name, _ in side] == order, (where, side, order)
                own_columns = duck.sql(dialect.with_ctes(inner, inner).sql("duckdb")).columns
                assert sorted(name for name, has in side if has) == sorted(own_columns), (where, side, own_columns)
    return compared


NUMBERS = ("tinyint", "smallint", "integer", "bigint", "decimal", "real", "double")
INSTANTS = ("date", "timestamp", "timestamp with time zone")
"""Trino's implicit coercions within a family (``TypeCoercion.coerceTypeBase``): each type to every one after it."""
TRINO_OF_DUCKDB = {"null": "unknown", "hugeint": "bigint", "ubigint": "bigint", "float": "real", "blob": "varbinary",
                   "timestamp_s": "timestamp", "timestamp_ms": "timestamp", "timestamp_ns": "timestamp",
                   "list": "array", "struct": "row", **{t: t for t in (*NUMBERS, *INSTANTS, "boolean", "varchar",
                                                                      "interval", "map")}}
"""DuckDB's type ids as Trino's base types where Athena's SQL has them: the sum of integers (HUGEINT in DuckDB) is a
BIGINT in Trino, UBIGINT halves of a key are BIGINTs there (``athena.rewrite``), NULL is Trino's unknown."""


def trino_type(duckdb_type) -> tuple:
    """A DuckDB column type (DuckDBPyType) as Trino's: (base, element types…); a type not mapped is an error."""
    base = TRINO_OF_DUCKDB[duckdb_type.id]
    children = duckdb_type.children if base in ("array", "map", "row") else []
    return (base, *(trino_type(child) for _, child in children))


def common_type(a: tuple, b: tuple) -> tuple | None:
    """The type Trino gives a UNION column of types ``a`` and ``b``, or None where it refuses the UNION (Trino's
    ``TypeCoercion.compatibility``: NULL takes the other type; integers widen, to decimal, real, double; date to
    timestamp to timestamp with time zone; VARCHAR(n) with VARCHAR is VARCHAR; arrays, maps, rows element-wise;
    nothing across families: VARCHAR with BIGINT, BOOLEAN with INTEGER, VARBINARY with VARCHAR fail)."""
    if a == b or b == ("unknown",):
        return a
    if a == ("unknown",):
        return b
    for family in (NUMBERS, INSTANTS):
        if a[0] in family and b[0] in family:
            return max(a, b, key=lambda t: family.index(t[0]))
    if a[0] == b[0] and a[0] in ("array", "map", "row") and len(a) == len(b):
        parts = [common_type(x, y) for x, y in zip(a[1:], b[1:])]
        return None if None in parts else (a[0], *parts)
    return None


def _union_types(duck, query, mismatches: list) -> list[tuple]:
    """The Trino types of ``query``'s columns: a SELECT's as DuckDB types them on the lake, a UNION's the common type
    of its sides' at each position; each position where Trino has none goes to ``mismatches`` (position, name,
    the two types, the UNION)."""
    if isinstance(query, exp.Subquery):
        return _union_types(duck, query.this, mismatches)
    if not isinstance(query, exp.Union):
        relation = duck.sql(dialect.with_ctes(query, query).sql("duckdb"))
        return [trino_type(t) for t in relation.types]
    left, right = (_union_types(duck, side, mismatches) for side in (query.left, query.right))
    assert len(left) == len(right), query.sql("duckdb")[:300]
    names = duck.sql(dialect.with_ctes(query.left, query.left).sql("duckdb")).columns
    merged = []
    for position, (a, b) in enumerate(zip(left, right)):
        common = common_type(a, b)
        if common is None:
            mismatches.append((position, names[position], a, b, " ".join(query.sql("duckdb").split())[:300]))
        merged.append(common or a)
    return merged


def union_type_mismatches(records: list[Prepared], duck) -> tuple[list, int]:
    """The columns of the UNIONs the statements send to Athena (each one, as ``prepare`` wrote it: UNION BY NAME
    listed) whose sides' types Trino cannot unite without a CAST (``common_type``), the types being those DuckDB
    gives each side on the lake; and how many UNIONs were checked. Each statement's UNIONs are checked on its DuckDB
    copy (``on_duckdb``), which has one for each of Athena's."""
    mismatches, checked = [], 0
    for record in records:
        if record.made.find(exp.Union) is None:
            continue
        tree, _ = on_duckdb(record, duck)
        unions = list(tree.find_all(exp.Union))
        assert len(unions) == len(list(record.made.find_all(exp.Union))), record.statement.sql("duckdb")[:300]
        for union in unions:
            checked += 1
            if not isinstance(union.parent, exp.Union):  # a chain's inner UNIONs are checked with it
                _union_types(duck, union, mismatches)
    return mismatches, checked


LISTED = re.compile(r"\bBY\s+NAME\b|\*\s*(EXCLUDE|REPLACE)\s*\(", re.I)  # what expand_columns writes out


def test_ddl_columns_are_duckdbs_and_the_views_unions_agree_in_type(sample_lake, monkeypatch):
    """Every table and view `athena ddl` makes has the columns DuckDB gives the relation of that name on the sample
    lake, in its order, and so has each view as sent (its Athena SQL read back, its columns derived from those of the
    relations it reads); the metadata views of ``queries/`` are made ready (``_metadata_views``) with each column list
    written out for UNION BY NAME, ``* EXCLUDE``, ``* REPLACE`` DuckDB's (``check_listed_columns``), and no UNION of
    theirs has a column whose types Trino cannot unite (``union_type_mismatches``)."""
    duck = analysis.connect(sample_lake)
    made = athena.ddl(sample_lake, "flowlogs", LOCATION)
    columns = athena.ddl_columns()
    assert set(columns) == {t.name for t in made.tables} | {name for name, _ in made.views}
    for name, listed in columns.items():
        assert listed == duck.sql(f'SELECT * FROM "{name}"').columns, name
    for name, view in made.views:
        query = sqlglot.parse_one(view, read="athena").expression
        for table in query.find_all(exp.Table):
            table.set("db", None)  # flowlogs.x: the relation x of `columns`
        assert dialect.static_columns(query, columns) == columns[name], name
    records = record_prepared(monkeypatch)
    views = athena._metadata_views.__wrapped__()
    assert [r.statement.this.name for r in records] == [name for name, _, _ in views]
    listing = [r.statement.this.name for r in records if LISTED.search(r.statement.sql("duckdb", comments=False))]
    assert [r.statement.this.name for r in records if r.listed] == listing and listing
    assert check_listed_columns(records, duck) >= len(listing)
    mismatches, unions = union_type_mismatches(records, duck)
    assert mismatches == [] and unions >= sum(len(_listed_unions(r.made)) for r in records) > 0


def test_report_findings_lists_duckdbs_columns_and_unites_union_types_on_athena(s3_sample_lake, aws, monkeypatch):
    """The statements ``report findings --engine athena`` makes ready (``_report_findings_on_athena``), against
    DuckDB's run of the same report on the same lake (its temp tables are the session's): every column list written
    out for UNION BY NAME, ``* EXCLUDE``, ``* REPLACE`` is DuckDB's (``check_listed_columns``), and no UNION sent
    has a column whose types Trino cannot unite (``union_type_mismatches``)."""
    records = record_prepared(monkeypatch)
    _, duck, *_ = _report_findings_on_athena(s3_sample_lake, monkeypatch)
    listing = [r for r in records if LISTED.search(r.statement.sql("duckdb", comments=False))]
    assert [r for r in records if r.listed] == listing and listing
    assert check_listed_columns(records, duck) >= len(listing)
    mismatches, unions = union_type_mismatches(records, duck)
    assert mismatches == [] and unions >= sum(len(_listed_unions(r.made)) for r in records) > 0


def test_listed_columns_read_the_ctes_of_their_own_with(sample_lake, monkeypatch):
    """A UNION BY NAME whose sides read CTEs of the UNION's own WITH (task_identity.sql, the task report's) and a
    ``* REPLACE`` over a CTE of its SELECT's own WITH are listed on Athena, as DuckDB has them."""
    athena.ddl_columns()  # the views' columns, made ready before recording
    records = record_prepared(monkeypatch)
    con = athena.AthenaConnection(None, database="flowlogs", workgroup="primary", output=None)
    for sql, params in ((queries.get("task_identity").sql, {"task": "x"}),
                        ("WITH s AS (SELECT * FROM current_subnets) SELECT s.* REPLACE (upper(s.vpc_id) AS vpc_id) FROM s",
                         {})):
        [statement] = dialect.parse(sql, "Athena")
        [text] = con.translate(statement, params)
        assert not LISTED.search(text), text
    assert [len(r.listed) for r in records] == [2, 1]  # the two sides; the relation of the *
    assert check_listed_columns(records, analysis.connect(sample_lake)) == 3

def test_rows_registered_from_python_are_sent_inline_and_typed(athena_con):
    con = athena_con
    con.register("finding_keys", pa.table({"finding": pa.array([0, 1], pa.int64()), "src": ["10.0.1.5", "x'y"],
                                           "first_seen": pa.array([1000, None], pa.timestamp("us", "UTC")),
                                           "nothing": pa.nulls(2)}))
    con.register("named_findings", pa.schema([("finding", pa.int64()), ("client", pa.string())]).empty_table())
    [statement] = sqlglot.parse("WITH named_findings AS (SELECT 1 AS finding) SELECT k.src FROM finding_keys AS k "
                                "JOIN named_findings n ON n.finding = k.finding", read="duckdb")
    [text] = con.translate(statement, {})
    assert ("FROM (SELECT * FROM (VALUES (CAST(0 AS BIGINT), CAST('10.0.1.5' AS VARCHAR), "
            "CAST('1970-01-01 00:00:00.001' AS TIMESTAMP), NULL), (CAST(1 AS BIGINT), "
            "CAST('x''y' AS VARCHAR), CAST(NULL AS TIMESTAMP), NULL)) AS t(\"finding\", \"src\", \"first_seen\", "
            "\"nothing\")) AS k") in text
    assert "JOIN named_findings AS n" in text  # the CTE of that name, not the registered rows
    [empty] = con.translate(sqlglot.parse_one("SELECT count(*) FROM named_findings", read="duckdb"), {})
    assert empty == ("SELECT COUNT(*) FROM (SELECT * FROM (VALUES (CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR))) "
                     'AS t("finding", "client") WHERE FALSE) AS named_findings')
    for text in (text, empty):
        sqlglot.parse_one(text, read="trino")
    assert athena_con.has_relation("named_findings") and athena_con.has_relation("api_calls")
    assert not athena_con.has_relation("conversations")


# addresses where Pythons' ipaddress differ (3.12.4 and 3.13 changed is_global for some), with IANA's answer
PROBES = {"1.1.1.1": True, "8.8.8.8": True, "52.95.110.1": True, "100.64.0.1": False, "100.128.0.0": True,
          "192.0.0.8": False, "192.0.0.9": True, "192.0.0.10": True, "192.0.0.11": False, "192.0.0.171": False,
          "192.31.196.1": True, "192.52.193.1": True, "192.88.99.1": True, "192.175.48.1": True, "224.0.0.1": True,
          "2001:1::1": True, "2001:1::2": True, "2001:1::3": True, "2001:1::4": False, "2001:2::1": False,
          "2001:3::1": True, "2001:4:112::1": True, "2001:10::1": False, "2001:20::1": True, "2001:30::1": True,
          "2001::1": False, "2002::1": True, "2620:4f:8000::1": True, "64:ff9b::1": True, "64:ff9b:1::1": False,
          "3fff::1": False, "5f00::1": False, "fec0::1": True, "ff02::1": True, "2600:1f18::1": True,
          "::ffff:10.0.0.1": False, "::ffff:8.8.8.8": True, "fd00::1": False, "::": False, "::1": False,
          "0.0.0.0": False, "255.255.255.255": False}


def test_ip_is_global_is_the_one_list_on_every_engine_and_python():
    """addresses.is_global (DuckDB's and Spark's ip_is_global) is IANA's answer at PROBES, whatever the Python, and
    outside NOT_GLOBAL or inside GLOBAL_WITHIN at the first and last address of every network and one either side;
    Athena's ip_is_global() is written with each of those networks."""
    import ipaddress

    from pipeline import addresses

    assert {p: addresses.is_global(p) for p in PROBES} == PROBES
    not_global = [ipaddress.ip_network(n) for n in addresses.NOT_GLOBAL]
    within = [ipaddress.ip_network(n) for n in addresses.GLOBAL_WITHIN]
    assert all(any(w.subnet_of(n) for n in not_global if n.version == w.version) for w in within)
    probes = []
    for net in not_global + within:
        for edge in (net.network_address, net.broadcast_address):
            probes += [edge] + [edge + d for d in (-1, 1) if 0 <= int(edge) + d <= int(edge.max_prefixlen * "1", 2)]
    assert len(probes) > 100
    for ip in probes:
        ip = addresses.parse_ip(str(ip))  # ::ffff:a.b.c.d is a.b.c.d, as ip_key reads it
        inside = any(ip in net for net in not_global if net.version == ip.version)
        assert addresses.is_global(str(ip)) == (not inside or any(ip in w for w in within if w.version == ip.version)), ip
    athena_sql = athena.TRINO_MACROS["ip_is_global"]
    assert {n for n in re.findall(r"CONTAINS\('([^']+)'", athena_sql)} == set(addresses.NOT_GLOBAL + addresses.GLOBAL_WITHIN)


def test_the_python_functions_are_trino_sql_of_their_argument():
    for name, body in athena.TRINO_MACROS.items():
        tree = sqlglot.parse_one(body, read="trino")
        assert {c.name for c in tree.find_all(exp.Column)} <= {"a", "k", "v"}, name  # a; k, v: the lambda's
    [text] = athena.AthenaConnection(None, database="flowlogs", workgroup="primary", output=None).translate(
        sqlglot.parse_one("SELECT cidr_start(c), ip_is_global(ip) FROM t", read="duckdb"), {})
    tree = sqlglot.parse_one(text, read="trino")
    assert not {f.name.lower() for f in tree.find_all(exp.Anonymous)} & set(athena.TRINO_MACROS)
    assert "SPLIT_PART(TRIM(c), '/', 1)" in text and "CONTAINS('192.0.0.9/32'" in text
    assert "CONTAINS('::ffff:0:0/96'" not in text  # IPv4-mapped addresses are IPv4 (addresses.parse_ip)
