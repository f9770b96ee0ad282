"""A MongoDB wire-protocol stand-in for machines that cannot run a real MongoDB server.

Started by `cargo xtask services up` when no MongoDB answers and no Docker engine exists (and
by `.ci/run`), never by hand in normal use. It is NOT MongoDB: `mockupdb` (MongoDB's own test
server library) speaks the wire protocol to the driver, and `mongomock-ng` (an in-memory
imitation of a MongoDB collection) executes each command. That is enough for the workspace's
MongoDB code to be tested over a real socket, through the real `mongodb` crate: CRUD, cursors
with getMore, findAndModify, aggregation, unique indexes (E11000) and count/distinct.

What it cannot do, and why tests that need it are named `needs_mongodb_real`:
- no isolation and no multi-document transactions (every command runs alone, under one lock);
- no query planner: every query is a full scan, and `explain` has nothing true to report;
- some operators are missing (`$mul` in updates, for one).

Two things differ from using the libraries as they come, both for speed and liveness:
- mongomock checks a unique index by scanning the whole collection on every insert, so loading
  a few thousand documents took minutes. `UniqueKeys` keeps the keys of each unique index in a
  set instead, built once and kept current by inserts (any other write just drops it).
- mockupdb answers every request under one server-wide lock, so one slow command kept the
  driver's heartbeat (`hello`) waiting until the driver declared the server dead. Here each
  connection is served on its own and only commands that touch data share a lock.

Every `hello` reply carries the field `backendRsStandIn`, which is how `cargo xtask` and
`testkit` tell this stand-in from a real server and say so in every report.

Usage: python standin.py [--host 127.0.0.1] [--port 27017] [--verbose]
"""

import argparse
import collections
import datetime
import itertools
import os
import signal
import sys
import threading
import traceback

import mockupdb
import mongomock_ng
from bson.int64 import Int64
from bson.objectid import ObjectId
from mongomock_ng.collection import Collection
from mongomock_ng.filtering import filter_applies
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

STAND_IN = "mockupdb %s + mongomock-ng %s" % (
    getattr(mockupdb, "__version__", "?"),
    getattr(mongomock_ng, "__version__", "?"),
)

# The driver checks these in the handshake. Wire version 13 is MongoDB 5.0: recent enough for
# the Rust driver 3.x (which needs >= 7) and for the commands it sends to look like today's
# (`hello`, OP_MSG everywhere), and old enough that it never expects features we lack.
HELLO = {
    "helloOk": True,
    "isWritablePrimary": True,
    "ismaster": True,
    "minWireVersion": 0,
    "maxWireVersion": 13,
    "maxBsonObjectSize": 16 * 1024 * 1024,
    "maxMessageSizeBytes": 48_000_000,
    "maxWriteBatchSize": 100_000,
    "logicalSessionTimeoutMinutes": 30,
    "readOnly": False,
    "backendRsStandIn": STAND_IN,
}

DEFAULT_BATCH = 101

# Fields the driver adds to every command that mean nothing to an in-memory store.
IGNORED_FIELDS = {
    "$db", "lsid", "txnNumber", "autocommit", "startTransaction", "$clusterTime",
    "$readPreference", "readConcern", "writeConcern", "comment", "maxTimeMS", "apiVersion",
    "apiStrict", "apiDeprecationErrors", "bypassDocumentValidation", "$audit",
}


class CommandError(Exception):
    """A command failure the driver should see as a server error (ok: 0)."""

    def __init__(self, code, code_name, message):
        super().__init__(message)
        self.code = code
        self.code_name = code_name
        self.message = message


# One unique index and the set of key entries the collection's documents hold for it.
UniqueIndex = collections.namedtuple("UniqueIndex", "name key sparse partial entries")


class UniqueKeys:
    """The entries of one collection's unique indexes, so an insert checks them in O(1).

    Built from one scan the first time an insert needs it; inserts add to it; every other write
    to the collection (update, delete, drop, index changes) throws it away, so it is never
    stale. A key value that cannot be hashed (an embedded document) raises TypeError, here or
    in `duplicate`; the caller then lets mongomock check that insert with its own scan.
    """

    def __init__(self, collection):
        self.indexes = []
        for name, spec in collection._store.indexes.items():
            if not spec.get("unique"):
                continue
            index = UniqueIndex(name, spec.get("key"), spec.get("sparse"),
                                spec.get("partialFilterExpression"), set())
            self.indexes.append(index)
            for document in collection._store.documents:
                index.entries.update(self.entries(index, document))

    @staticmethod
    def entries(index, document):
        if index.partial is not None and not filter_applies(index.partial, document):
            return []
        return Collection._compute_index_entries(document, index.key, index.sparse) or []

    def duplicate(self, document):
        """The name of the unique index `document` would violate, if any."""
        for index in self.indexes:
            if any(entry in index.entries for entry in self.entries(index, document)):
                return index.name
        return None

    def add(self, document):
        for index in self.indexes:
            index.entries.update(self.entries(index, document))


class StandIn:
    def __init__(self):
        self.client = mongomock_ng.MongoClient()
        # Data commands run one at a time, as mongomock is not thread-safe; `hello` does not
        # wait for them.
        self.lock = threading.Lock()
        self.unique_keys = {}
        self.cursors = {}
        self.cursor_ids = itertools.count(1)
        self.connection_ids = itertools.count(1)
        self.handlers = {
            "hello": self.hello, "ismaster": self.hello,
            "ping": self.ok, "endsessions": self.ok, "killallsessions": self.ok,
            "refreshsessions": self.ok, "getlasterror": self.ok, "logout": self.ok,
            "buildinfo": self.build_info, "getparameter": self.ok,
            "listdatabases": self.list_databases, "dropdatabase": self.drop_database,
            "listcollections": self.list_collections, "create": self.create,
            "drop": self.drop, "insert": self.insert, "find": self.find,
            "getmore": self.get_more, "killcursors": self.kill_cursors,
            "update": self.update, "delete": self.delete,
            "findandmodify": self.find_and_modify, "aggregate": self.aggregate,
            "count": self.count, "distinct": self.distinct,
            "createindexes": self.create_indexes, "listindexes": self.list_indexes,
            "dropindexes": self.drop_indexes,
        }

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, request):
        """Answer one request. Never raises: an exception would kill the connection thread."""
        try:
            command = request.doc
            if not command:
                return request.command_err(59, "empty command")
            name = next(iter(command))
            handler = self.handlers.get(name.lower())
            if handler is None:
                raise CommandError(59, "CommandNotFound", "no such command: '%s' (the MongoDB "
                                   "stand-in implements only what the workspace uses)" % name)
            database = command.get("$db") or request.namespace or "admin"
            if "." in database:  # OP_QUERY namespaces look like "db.$cmd"
                database = database.split(".", 1)[0]
            if handler == self.hello:
                reply = handler(database, command)
            else:
                with self.lock:
                    self.forget_unique_keys(name.lower(), database, command)
                    reply = handler(database, command)
            return request.replies(reply)
        except CommandError as error:
            return request.replies(
                {"ok": 0, "errmsg": error.message, "code": error.code, "codeName": error.code_name}
            )
        except DuplicateKeyError as error:
            return request.replies(
                {"ok": 0, "errmsg": str(error), "code": 11000, "codeName": "DuplicateKey"}
            )
        except OperationFailure as error:
            return request.replies(
                {"ok": 0, "errmsg": str(error), "code": error.code or 2, "codeName": "BadValue"}
            )
        except NotImplementedError as error:
            return request.replies(
                {"ok": 0, "errmsg": "not supported by the MongoDB stand-in: %s" % error,
                 "code": 115, "codeName": "CommandNotSupported"}
            )
        except Exception as error:  # noqa: BLE001 - report, keep serving
            traceback.print_exc()
            return request.replies(
                {"ok": 0, "errmsg": "MongoDB stand-in error: %r" % (error,), "code": 1,
                 "codeName": "InternalError"}
            )

    def forget_unique_keys(self, command_name, database, command):
        """Any write but an insert may change index keys: drop what `UniqueKeys` knew."""
        if command_name in ("insert", "find", "getmore", "aggregate", "count", "distinct",
                            "listindexes", "listcollections", "ping", "endsessions",
                            "killcursors", "buildinfo", "listdatabases"):
            return
        target = command.get(next(iter(command)))
        if command_name == "dropdatabase" or not isinstance(target, str):
            self.unique_keys = {k: v for k, v in self.unique_keys.items() if k[0] != database}
        else:
            self.unique_keys.pop((database, target), None)

    def collection(self, database, command):
        name = command[next(iter(command))]
        if not isinstance(name, str):
            raise CommandError(73, "InvalidNamespace", "collection name must be a string")
        return self.client[database][name]

    # -- server and session commands ------------------------------------------------------

    def hello(self, _database, _command):
        reply = dict(HELLO)
        reply["localTime"] = datetime.datetime.now(datetime.timezone.utc)
        reply["connectionId"] = next(self.connection_ids)
        return reply

    def ok(self, _database, _command):
        return {"ok": 1}

    def build_info(self, _database, _command):
        return {"version": "5.0.0", "versionArray": [5, 0, 0, 0], "standIn": STAND_IN, "ok": 1}

    # -- databases and collections --------------------------------------------------------

    def list_databases(self, _database, command):
        names = self.client.list_database_names()
        if command.get("nameOnly"):
            return {"databases": [{"name": n} for n in names], "ok": 1}
        return {
            "databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in names],
            "totalSize": 0,
            "ok": 1,
        }

    def drop_database(self, database, _command):
        self.client.drop_database(database)
        return {"dropped": database, "ok": 1}

    def list_collections(self, database, command):
        names = self.client[database].list_collection_names()
        wanted = (command.get("filter") or {}).get("name")
        docs = [
            {"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}}
            for n in names
            if wanted is None or n == wanted
        ]
        return self.first_batch("%s.$cmd.listCollections" % database, docs, command)

    def create(self, database, command):
        name = command["create"]
        if name in self.client[database].list_collection_names():
            raise CommandError(48, "NamespaceExists", "Collection %s.%s already exists."
                               % (database, name))
        self.client[database].create_collection(name)
        return {"ok": 1}

    def drop(self, database, command):
        name = command["drop"]
        if name not in self.client[database].list_collection_names():
            raise CommandError(26, "NamespaceNotFound", "ns not found")
        self.client[database].drop_collection(name)
        return {"ok": 1}

    # -- writes -----------------------------------------------------------------------------

    def insert(self, database, command):
        collection = self.collection(database, command)
        inserted, errors = 0, []
        for index, document in enumerate(command.get("documents", [])):
            if "_id" not in document:
                document = dict(document, _id=ObjectId())
            try:
                self.insert_one(database, collection, document)
                inserted += 1
            except DuplicateKeyError as error:
                errors.append({"index": index, "code": 11000, "errmsg": str(error)})
                if command.get("ordered", True):
                    break
        return self.write_reply(inserted, errors)

    def insert_one(self, database, collection, document):
        """Inserts `document`, checking the unique indexes with `UniqueKeys` where it can."""
        cache_key = (database, collection.name)
        try:
            keys = self.unique_keys.get(cache_key)
            if keys is None:
                keys = self.unique_keys[cache_key] = UniqueKeys(collection)
            violated = keys.duplicate(document)
        except TypeError:
            # A key value that cannot be hashed: mongomock compares it the slow way, and the
            # set is rebuilt (or found impossible again) at the next insert.
            self.unique_keys.pop(cache_key, None)
            collection.insert_one(document)
            return
        if violated is not None:
            raise DuplicateKeyError("E11000 duplicate key error collection: %s.%s index: %s"
                                    % (database, collection.name, violated), 11000)
        # The unique keys were just checked above; skip mongomock's full scan.
        collection._ensure_uniques = _no_check
        try:
            collection.insert_one(document)
        finally:
            del collection._ensure_uniques
        keys.add(document)

    def update(self, database, command):
        collection = self.collection(database, command)
        matched, modified, upserted, errors = 0, 0, [], []
        for index, statement in enumerate(command.get("updates", [])):
            query = statement.get("q", {})
            change = statement.get("u", {})
            upsert = statement.get("upsert", False)
            multi = statement.get("multi", False)
            array_filters = statement.get("arrayFilters")
            kwargs = {"upsert": upsert}
            if array_filters:
                kwargs["array_filters"] = array_filters
            try:
                if isinstance(change, list) or any(k.startswith("$") for k in change):
                    method = collection.update_many if multi else collection.update_one
                    result = method(query, change, **kwargs)
                else:
                    result = collection.replace_one(query, change, upsert=upsert)
            except DuplicateKeyError as error:
                errors.append({"index": index, "code": 11000, "errmsg": str(error)})
                if command.get("ordered", True):
                    break
                continue
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted.append({"index": index, "_id": result.upserted_id})
        reply = self.write_reply(matched + len(upserted), errors)
        reply["nModified"] = modified
        if upserted:
            reply["upserted"] = upserted
        return reply

    def delete(self, database, command):
        collection = self.collection(database, command)
        removed = 0
        for statement in command.get("deletes", []):
            query = statement.get("q", {})
            if statement.get("limit", 0) == 1:
                removed += collection.delete_one(query).deleted_count
            else:
                removed += collection.delete_many(query).deleted_count
        return self.write_reply(removed, [])

    def find_and_modify(self, database, command):
        collection = self.collection(database, command)
        query = command.get("query", {})
        sort = self.sort_list(command.get("sort"))
        projection = command.get("fields")
        return_new = bool(command.get("new", False))
        upsert = bool(command.get("upsert", False))
        before = collection.find_one(query, sort=sort)
        if command.get("remove"):
            document = collection.find_one_and_delete(query, projection=projection, sort=sort)
            return {"lastErrorObject": {"n": 1 if document else 0}, "value": document, "ok": 1}
        change = command.get("update", {})
        if isinstance(change, list) or any(k.startswith("$") for k in change):
            method = collection.find_one_and_update
        else:
            method = collection.find_one_and_replace
        document = method(
            query, change, projection=projection, sort=sort, upsert=upsert,
            return_document=ReturnDocument.AFTER if return_new else ReturnDocument.BEFORE,
        )
        last_error = {"n": 1, "updatedExisting": before is not None}
        if before is None and upsert:
            after = collection.find_one(query, sort=sort) if document is None else document
            if after is not None:
                last_error["upserted"] = after.get("_id")
        elif before is None:
            last_error["n"] = 0
        return {"lastErrorObject": last_error, "value": document, "ok": 1}

    @staticmethod
    def write_reply(n, errors):
        reply = {"n": n, "ok": 1}
        if errors:
            reply["writeErrors"] = errors
        return reply

    # -- reads and cursors ----------------------------------------------------------------------

    @staticmethod
    def sort_list(sort):
        if not sort:
            return None
        return [(key, direction) for key, direction in sort.items()]

    def find(self, database, command):
        collection = self.collection(database, command)
        cursor = collection.find(
            command.get("filter") or {},
            projection=command.get("projection") or None,
            skip=int(command.get("skip", 0) or 0),
            limit=abs(int(command.get("limit", 0) or 0)),
            sort=self.sort_list(command.get("sort")),
        )
        documents = list(cursor)
        if command.get("singleBatch") or int(command.get("limit", 0) or 0) < 0:
            command = dict(command, batchSize=len(documents))
        return self.first_batch("%s.%s" % (database, command["find"]), documents, command)

    def aggregate(self, database, command):
        target = command["aggregate"]
        pipeline = command.get("pipeline", [])
        if target == 1:
            raise NotImplementedError("database-level aggregate")
        documents = list(self.client[database][target].aggregate(pipeline))
        namespace = "%s.%s" % (database, target)
        last = pipeline[-1] if pipeline else {}
        if "$out" in last or "$merge" in last:
            documents = []
        return self.first_batch(namespace, documents, command.get("cursor") or {})

    def first_batch(self, namespace, documents, options):
        """Reply with the first batch and keep the rest for getMore, as a server does."""
        batch_size = options.get("batchSize")
        if batch_size is None:
            batch_size = DEFAULT_BATCH
        batch_size = int(batch_size)
        if batch_size <= 0:
            batch_size = len(documents)
        first, rest = documents[:batch_size], documents[batch_size:]
        cursor_id = 0
        if rest:
            cursor_id = next(self.cursor_ids)
            self.cursors[cursor_id] = (namespace, rest)
        # Every cursor id is an Int64, 0 included: the driver rejects an Int32 there.
        return {"cursor": {"id": Int64(cursor_id), "ns": namespace, "firstBatch": first}, "ok": 1}

    def get_more(self, database, command):
        cursor_id = int(command["getMore"])
        entry = self.cursors.pop(cursor_id, None)
        if entry is None:
            raise CommandError(43, "CursorNotFound", "cursor id %d not found" % cursor_id)
        namespace, documents = entry
        batch_size = int(command.get("batchSize") or 0) or len(documents)
        batch, rest = documents[:batch_size], documents[batch_size:]
        next_id = 0
        if rest:
            next_id = cursor_id
            self.cursors[cursor_id] = (namespace, rest)
        return {"cursor": {"id": Int64(next_id), "ns": namespace, "nextBatch": batch}, "ok": 1}

    def kill_cursors(self, _database, command):
        killed = []
        for cursor_id in command.get("cursors", []):
            if self.cursors.pop(int(cursor_id), None) is not None:
                killed.append(Int64(int(cursor_id)))
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": [],
                "cursorsUnknown": [], "ok": 1}

    def count(self, database, command):
        collection = self.collection(database, command)
        query = command.get("query") or {}
        n = collection.count_documents(query)
        skip = int(command.get("skip", 0) or 0)
        limit = int(command.get("limit", 0) or 0)
        n = max(0, n - skip)
        if limit:
            n = min(n, abs(limit))
        return {"n": n, "ok": 1}

    def distinct(self, database, command):
        collection = self.collection(database, command)
        values = collection.distinct(command["key"], command.get("query") or {})
        return {"values": values, "ok": 1}

    # -- indexes ----------------------------------------------------------------------------

    def create_indexes(self, database, command):
        collection = self.collection(database, command)
        before = len(collection.index_information())
        for spec in command.get("indexes", []):
            keys = list(spec["key"].items())
            options = {k: v for k, v in spec.items() if k not in ("key", "v")}
            collection.create_index(keys, **options)
        after = len(collection.index_information())
        return {"numIndexesBefore": before, "numIndexesAfter": after,
                "createdCollectionAutomatically": before == 0, "ok": 1}

    def list_indexes(self, database, command):
        collection = self.collection(database, command)
        if collection.name not in self.client[database].list_collection_names():
            raise CommandError(26, "NamespaceNotFound", "ns does not exist")
        docs = []
        for name, info in collection.index_information().items():
            doc = {"v": 2, "key": dict(info["key"]), "name": name}
            for option in ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression"):
                if option in info:
                    doc[option] = info[option]
            docs.append(doc)
        return self.first_batch("%s.%s" % (database, collection.name), docs,
                                command.get("cursor") or {})

    def drop_indexes(self, database, command):
        collection = self.collection(database, command)
        index = command.get("index")
        if index == "*":
            collection.drop_indexes()
        elif isinstance(index, str):
            collection.drop_index(index)
        else:
            collection.drop_index(list(index.items()))
        return {"ok": 1}


def _no_check(_document):
    return None


class StandInServer(mockupdb.MockupDB):
    """mockupdb's server, serving each connection without its server-wide lock."""

    def __init__(self, handler, **kwargs):
        super().__init__(**kwargs)
        self.handler = handler

    def _server_loop(self, client, client_addr):
        while not self._stopped:
            try:
                request = mockupdb.mock_server_receive_request(client, self)
            except (OSError, ValueError, NotImplementedError):
                break  # the driver hung up, or sent something we cannot read
            self.handler(request)
        client.close()


def main():
    parser = argparse.ArgumentParser(description="MongoDB wire-protocol stand-in for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    stand_in = StandIn()
    server = StandInServer(stand_in.handle, port=args.port, verbose=args.verbose)
    server._address = (args.host, args.port)  # mockupdb binds "localhost" by default
    server.run()
    print("MongoDB stand-in (%s) listening on %s:%d, pid %d"
          % (STAND_IN, args.host, args.port, os.getpid()), flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
