"""Records: reading, validating and writing Video-R1-format datasets."""

from video_r1.data.load import load_records, read_records, write_records
from video_r1.data.records import DATA_TYPES, PROBLEM_TYPES, Problem, Record, RecordError
from video_r1.data.validate import resolve_media_path, validate_record

__all__ = [
    "DATA_TYPES",
    "PROBLEM_TYPES",
    "Problem",
    "Record",
    "RecordError",
    "load_records",
    "read_records",
    "resolve_media_path",
    "validate_record",
    "write_records",
]
