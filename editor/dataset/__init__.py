"""Folders in, a folder out: `edit_folder` (`folder.py`) checks each photo for the targets, edits those that show them,
checks again (`sanitize.py`), writes a report line each (`report.py`), resumes (`batch.py`), and scales out on Ray
(`ray_batch.py`)."""
