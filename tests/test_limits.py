"""--memory-limit: every analysis connection is held to it and spills into the lake's _tmp/ folder."""

from __future__ import annotations

import pytest

from pipeline.analysis.connection import connect
from pipeline.errors import FlowlogsError
from pipeline.lake import limits
from pipeline.lake import store as lake
from test_lake_local import run_cli


@pytest.fixture
def store(tmp_path):
    yield lake.open_lake(tmp_path / "lake")
    limits.set_memory_limit(None)


def test_the_limit_and_the_spill_folder_of_a_connection(store):
    limits.set_memory_limit("100MB")
    con = connect(store)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "95.3 MiB"
    folder = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert folder.startswith(store.path("_tmp") + "/")
    with pytest.raises(Exception, match="locked"):
        con.execute("SET memory_limit = '10GB'")  # SQL cannot lift it
    # more data than the limit: DuckDB spills it into the lake, and the folder goes with the connection
    con.execute("CREATE TEMP TABLE big AS SELECT md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS h "
                "FROM range(2500000)")
    assert con.execute("SELECT count(DISTINCT h) FROM big").fetchone()[0] == 2_500_000
    spilled = con.execute("SELECT count(*), min(path) FROM duckdb_temporary_files()").fetchone()
    assert spilled[0] > 0 and spilled[1].startswith(folder)
    con.close()
    assert not (limits.os.path.exists(folder))


def test_the_default_is_half_the_memory_and_sizes_are_read_with_their_unit():
    assert limits.memory_bytes(limits.DEFAULT) == limits.machine_memory() // 2
    assert limits.memory_bytes("4GB") == 4 * 10**9 and limits.memory_bytes("512 MiB") == 512 << 20
    for bad in ("4 gigs", "0%", "150%", "1MB", ""):
        with pytest.raises(FlowlogsError, match="--memory-limit"):
            limits.memory_bytes(bad)


def test_the_option_and_its_variable_on_the_command_line(store, monkeypatch):
    query = ("sql", "--format", "csv", "SELECT current_setting('memory_limit') AS m")
    given = run_cli("--lake", store.root, *query, "--memory-limit", "1GiB")
    assert given.exit_code == 0, given.output
    assert "1023.9 MiB" in given.stdout or "1.0 GiB" in given.stdout
    monkeypatch.setenv("FLOWLOGS_MEMORY_LIMIT", "300MB")
    assert "286.1 MiB" in run_cli("--lake", store.root, *query).stdout
    bad = run_cli("--lake", store.root, *query, "--memory-limit", "lots")
    assert bad.exit_code == 2 and "--memory-limit: 'lots' is not a size" in bad.output
    assert "Traceback" not in bad.output
