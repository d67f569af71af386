"""The cascade (docs/sync.md): a parent pulls and verifies its children's logs (pull, fetch), folds their
entries into verified mirrors (policy), and runs rounds of pulling, cosigning, code minting and relaying
(cascade), in the background of `regledger serve` (worker); children and the parent are configured by
ledger entries (manage)."""
