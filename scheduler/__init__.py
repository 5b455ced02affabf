"""The meetagain domain: pure code, no I/O. Time is always passed in and always timezone-aware."""
