"""rpm databases read without the rpm tool: header blobs, the three database formats, the extractor."""

from vigil.inventory.os.rpm.bdb import read_bdb
from vigil.inventory.os.rpm.database import read_database, sniff
from vigil.inventory.os.rpm.extractor import RpmExtractor, split_source_rpm
from vigil.inventory.os.rpm.header import HeaderError, RpmHeader, parse_header
from vigil.inventory.os.rpm.ndb import read_ndb
from vigil.inventory.os.rpm.records import MAX_DATABASE_SIZE, Record, RpmdbError
from vigil.inventory.os.rpm.sqlite import read_sqlite

__all__ = [
    "MAX_DATABASE_SIZE",
    "HeaderError",
    "Record",
    "RpmExtractor",
    "RpmHeader",
    "RpmdbError",
    "parse_header",
    "read_bdb",
    "read_database",
    "read_ndb",
    "read_sqlite",
    "sniff",
    "split_source_rpm",
]
