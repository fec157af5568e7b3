"""Reading collections back on a real FerretDB: batches bounded in bytes, not in documents."""

from __future__ import annotations

import os

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import ProtocolError

from flightdeck.backup import mongo
from flightdeck.backup.archive import hash_documents
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration


def test_a_batch_of_unusually_large_documents_is_read_again_in_smaller_batches(
    ferretdb: FerretDB,
) -> None:
    """13 documents of 4 MB side by side among small ones: a batch sized on the average size
    holds all of them, which FerretDB sends as one 52 MB reply that the driver refuses."""
    with MongoClient(ferretdb.uri, document_class=RawBSONDocument) as client:
        collection = client.bk_mongo_skewed.docs
        collection.drop()
        collection.insert_many([{"_id": i, "n": i} for i in range(900)])
        collection.insert_many(
            [{"_id": 1000 + i, "data": bson.Binary(os.urandom(4_000_000))} for i in range(13)]
        )
        first_try = mongo._batch_size(collection)
        with pytest.raises(ProtocolError, match="larger than server max message size"):
            list(collection.find({}, batch_size=first_try))

        digest = mongo.hash_collection(collection)

        one_by_one = hash_documents(
            doc.raw
            for i in [*range(900), *range(1000, 1013)]
            for doc in [collection.find_one(i)]
            if doc is not None
        )
        assert (digest.count, digest.hexdigest) == (913, one_by_one.hexdigest)
