let placeholder_TransportTests = 0
