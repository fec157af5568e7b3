"""One contract for every BlobStore: run against the local directory and a real Azurite."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from flightdeck.blobstore import BlobNotFoundError, BlobStore, create_blobstore
from flightdeck.core.errors import ConfigError, PermanentError
from testsupport.azurite import Azurite, start_azurite

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture(params=["local", "azure"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return create_blobstore("local", root=tmp_path / "store")
    server: Azurite = request.getfixturevalue("azurite")
    container = f"contract-{tmp_path.name[-20:].lower().replace('_', '-')}".rstrip("-")
    return create_blobstore(
        "azure",
        connection_string=server.connection_string,
        container=container,
        block_size=1000,
        concurrency=3,
    )


def test_streamed_object_is_visible_only_after_commit(store: BlobStore) -> None:
    writer = store.open_writer("b/obj.bin")
    payload = bytes(range(256)) * 20  # several blocks, last one partial
    for i in range(0, len(payload), 300):
        writer.write(payload[i : i + 300])
    assert store.list_keys() == []
    writer.commit()
    assert store.list_keys() == ["b/obj.bin"]
    assert b"".join(store.read_chunks("b/obj.bin", chunk_size=512)) == payload
    assert store.get("b/obj.bin") == payload


def test_aborted_writer_leaves_nothing(store: BlobStore) -> None:
    writer = store.open_writer("gone")
    writer.write(b"x" * 5000)
    writer.abort()
    writer.abort()
    assert store.list_keys() == []
    with pytest.raises(BlobNotFoundError):
        store.get("gone")


def test_empty_object(store: BlobStore) -> None:
    writer = store.open_writer("empty")
    writer.commit()
    assert store.get("empty") == b""


def test_put_get_list_prefix_delete(store: BlobStore) -> None:
    store.put("a.json", b"1")
    store.put("b.json", b"2")
    store.put("a.json", b"3")  # overwrite
    assert store.list_keys() == ["a.json", "b.json"]
    assert store.list_keys("a") == ["a.json"]
    assert store.get("a.json") == b"3"
    store.delete("a.json")
    assert store.list_keys() == ["b.json"]
    with pytest.raises(BlobNotFoundError):
        store.delete("a.json")
    with pytest.raises(BlobNotFoundError):
        list(store.read_chunks("a.json"))


def test_a_killed_writer_leaves_nothing_listed_and_its_leftovers_can_be_removed(
    store: BlobStore,
) -> None:
    writer = store.open_writer("k/obj.bin")
    writer.write(b"x" * 5000)  # the writer's process "dies" here: neither commit nor abort
    assert store.list_keys() == []
    unfinished = store.list_unfinished()
    # The local directory keeps the partial file; Azure keeps only unlisted blocks.
    assert len(unfinished) == (1 if store.kind == "local" else 0)
    for name in unfinished:
        store.delete_unfinished(name)
    assert store.list_unfinished() == []
    assert store.list_keys() == []
    writer.abort()


def test_local_store_file_errors_name_the_path(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    store = create_blobstore("local", root=not_a_dir)
    with pytest.raises(PermanentError, match=f"{not_a_dir}.*(not a directory|File exists)"):
        store.put("a.json", b"1")
    with pytest.raises(PermanentError, match="not a directory"):
        store.list_keys()
    store = create_blobstore("local", root=tmp_path / "ok")
    (tmp_path / "ok" / "dir.json").mkdir(parents=True)
    with pytest.raises(PermanentError, match=r"dir\.json: Is a directory"):
        store.get("dir.json")
    with pytest.raises(ConfigError, match="not an unfinished write"):
        store.delete_unfinished("dir.json")


def test_local_objects_are_private(tmp_path: Path) -> None:
    store = create_blobstore("local", root=tmp_path)
    store.put("m.json", b"{}")
    writer = store.open_writer("o.bin")
    writer.write(b"x")
    writer.commit()
    assert {(tmp_path / k).stat().st_mode & 0o777 for k in ("m.json", "o.bin")} == {0o600}


def test_unknown_store_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown blob store 's3'.*azure, local"):
        create_blobstore("s3")


def test_local_store_refuses_escaping_keys(tmp_path: Path) -> None:
    store = create_blobstore("local", root=tmp_path)
    with pytest.raises(ConfigError, match="not a plain relative name"):
        store.put("../outside", b"x")
