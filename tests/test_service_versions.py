"""How a serving process compiles a version: giving way to calls, and collector pauses."""

from __future__ import annotations

import gc
import sys
import threading
import time

import pytest
from service_helpers import running, wait_until
from tessera.engine.compiler import CompiledProgram
from tessera.engine.fastclass import giving_way
from tessera.server.service import versions


def one_more_rule(
    registry: versions.ProgramRegistry, name: str
) -> tuple[versions.VersionRecord, str, CompiledProgram]:
    """The active version's record, and its source with one more rule, compiled."""
    active = registry.active
    assert active is not None
    record = registry.versions.get(active.version)
    assert record is not None
    text = record.source + f'\nrule {name}\n  when amount >= 1.00\n  then tag "{name}"\n'
    return record, text, versions.compile_with_files(text, record.filename, record.files)


def test_compiles_shorten_the_switch_interval_until_the_last_one_ends() -> None:
    normal = sys.getswitchinterval()
    assert giving_way(False) is False  # a compile alone hands the GIL to nobody
    with versions.calls_first():
        assert sys.getswitchinterval() == pytest.approx(versions.COMPILE_SWITCH_INTERVAL)
        with versions.calls_first():  # an upload beside an activation
            pass
        assert sys.getswitchinterval() == pytest.approx(versions.COMPILE_SWITCH_INTERVAL)
        assert giving_way(True) is True  # the compiled compiler gives way meanwhile
    assert sys.getswitchinterval() == normal
    assert giving_way(False) is False


def test_a_compile_in_another_thread_keeps_the_short_interval_while_it_runs() -> None:
    normal = sys.getswitchinterval()
    inside, leave = threading.Event(), threading.Event()

    def compile_like() -> None:
        with versions.calls_first():
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=compile_like)
    worker.start()
    inside.wait(5)
    with versions.calls_first():
        pass  # this one ends first: the other is still compiling
    assert sys.getswitchinterval() == pytest.approx(versions.COMPILE_SWITCH_INTERVAL)
    leave.set()
    worker.join(5)
    assert sys.getswitchinterval() == normal


def test_a_loaded_version_is_frozen_without_a_collection_and_the_collector_returns(
    tmp_path, monkeypatch,
) -> None:
    with running(str(tmp_path)) as r:
        registry = r.service.registry
        registry.stop()  # no follower to prepare the upload: this test compiles it itself
        record, text, compiled = one_more_rule(registry, "freeze_probe")
        registry.versions.upload(compiled, text, record.filename, record.files, "test")
        seen: list[bool] = []
        compile_ = versions.compile_with_files

        def watched(*args: object) -> object:
            seen.append(gc.isenabled())
            out = compile_(*args)
            seen.append(gc.isenabled())  # still off: the new programme is not walked yet
            return out

        monkeypatch.setattr(versions, "compile_with_files", watched)
        frozen = gc.get_freeze_count()
        runtime = registry.runtime(compiled.version)  # not cached here yet: compiled again
        assert runtime.compiled.version == compiled.version
        assert seen == [False, False]
        assert gc.get_freeze_count() > frozen + len(runtime.compiled.program.rules)
        assert gc.isenabled()


def test_an_upload_is_compiled_ahead_so_that_its_activation_is_a_swap(tmp_path) -> None:
    with running(str(tmp_path)) as r:
        registry = r.service.registry
        active = registry.active
        record, text, compiled = one_more_rule(registry, "ahead")
        other = versions.VersionStore(r.client)  # another process's upload
        other.upload(compiled, text, record.filename, record.files, "test")
        wait_until(lambda: compiled.version in registry._cache, what="the upload compiled")
        prepared = registry._cache[compiled.version]
        assert registry.active is active  # compiled, not activated
        compiles: list[str] = []
        original = versions.compile_with_files
        try:
            versions.compile_with_files = lambda *a: compiles.append("again") or original(*a)
            other.activate(compiled.version)
            wait_until(lambda: registry.active is prepared, what="the swap")
        finally:
            versions.compile_with_files = original
        assert compiles == []  # the activation compiled nothing


def test_an_upload_that_cannot_be_prepared_is_left_to_activation(tmp_path, caplog) -> None:
    with running(str(tmp_path)) as r:
        registry = r.service.registry
        registry.prepare("no-such-version")  # announced, then gone: logged, no raise
        assert "no-such-version" not in registry._cache
        assert "preparing uploaded programme version no-such-version" in caplog.text
        quiet = versions.ProgramRegistry(registry.versions, r.client, prepare_uploads=False)
        active = registry.active
        assert active is not None
        quiet.prepare(active.version)
        assert not quiet._cache  # told not to compile uploads ahead


def test_a_compile_gives_way_to_a_waiting_thread() -> None:
    """The compiler is compiled by Cython, which never passes the eval loop's GIL hand-over;
    with calls first, a thread that wakes every millisecond still runs all along."""
    from bench.workload import generate_program

    source = generate_program(5_000)
    ticks: list[float] = []
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        started = time.perf_counter()
        versions.compile_with_files(source, "g.rules", {})
        ended = time.perf_counter()
    finally:
        done.set()
        ticker.join(5)
    inside = [t for t in ticks if started <= t <= ended]
    gaps = [b - a for a, b in zip([started, *inside], [*inside, ended], strict=True)]
    assert max(gaps) < 0.1 * max(1.0, (ended - started) / 0.5), max(gaps)
