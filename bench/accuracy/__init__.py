"""Accuracy of the load tester itself: ``isthmus loadtest`` vs wrk vs k6 (``bash bench/accuracy.sh``)."""
