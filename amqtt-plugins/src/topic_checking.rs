//! aMQTT's topic-checking plugins: a taboo list and access-control lists.
