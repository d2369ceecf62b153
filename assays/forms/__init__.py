"""Page forms for protocols, steps, rotors and runs. They collect and check input;
``assays.services`` writes."""
