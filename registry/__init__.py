"""Pure registry helpers: USCC and GB/T 2260 validation, registration codes, working-day clocks."""
