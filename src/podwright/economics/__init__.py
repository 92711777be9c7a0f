"""Capital cost, power, $/hour, $/Mtoken and industry-chain demand."""
