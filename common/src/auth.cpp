// Login authentication helpers: filled in with the protocol helpers.
