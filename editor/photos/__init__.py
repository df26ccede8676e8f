"""Photos as files: reading any size and mode with its metadata (`photo_io.py`, `faithful.py`), writing atomically and
never over an input (`writing.py`), metadata stripped losslessly (`stripping.py`), figures for people (`figures.py`)."""
