let placeholder_Echo = 0
