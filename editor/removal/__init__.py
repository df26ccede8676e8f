"""The removal itself, after the inversion: the loop that runs the original and suppressed branches (`sampler.py`), what
a call resolved (`request.py`), the object's mask from attention (`masks.py`), and what fills its place (`fill.py`,
`repaint.py`)."""
