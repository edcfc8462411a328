"""Our implementation of CoTracker3 (offline and online); needs torch. Import its modules directly."""
