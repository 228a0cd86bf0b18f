let placeholder_RPCBench = 0
