// Package settings loads a binary's configuration the same way for every
// Quicksilver command (qs-node, qs-frontend): flags, each with a QS_*
// environment twin, and an optional YAML file.
//
// A value is taken from the first of these that sets it:
//
//  1. the command line (-transport 10.0.0.1:7100);
//  2. the flag's environment twin: QS_ and the flag's name in upper case
//     with dashes as underscores (QS_TRANSPORT);
//  3. the YAML file named by -config (or QS_CONFIG): a mapping from flag
//     names to values (transport: 10.0.0.1:7100); a list is joined with
//     commas, so seeds: [a:1, b:2] is -seeds a:1,b:2;
//  4. the flag's default.
//
// Every error names its source and the bad value: "QS_TICK=\"fast\": ...",
// "node.yaml: tick: ...", "unknown key \"tik\" in node.yaml". -h and -help
// return flag.ErrHelp after printing the usage to the FlagSet's output;
// commands exit 0 on it (asking for help is not an error).
//
// The caller owns the FlagSet (flag.ContinueOnError) and its validation:
// Load only fills the flags; each component's Config.Validate decides what
// is acceptable.
package settings
