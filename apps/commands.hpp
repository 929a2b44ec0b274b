#pragma once
// Each subcommand of the `tilesparse` CLI registers itself on the app; main() runs the
// one chosen and turns tilesparse::Error into a message and exit code 2.
#include <CLI/CLI.hpp>

namespace tilesparse::cli {

void add_inspect_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_model_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_study_command(CLI::App& app);
void add_prune_command(CLI::App& app);

}  // namespace tilesparse::cli
