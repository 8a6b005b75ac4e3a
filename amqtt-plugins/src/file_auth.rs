//! aMQTT's password-file authentication plugin.
