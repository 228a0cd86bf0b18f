let placeholder_MedicareTransport = 0
