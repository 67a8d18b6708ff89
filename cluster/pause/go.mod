module iotemu.local/cluster/pause

go 1.24
