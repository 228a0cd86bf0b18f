let placeholder_Certs = 0
