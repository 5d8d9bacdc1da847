module flagtrail/bench/peer

go 1.19
