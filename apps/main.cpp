#include <cstdio>
#include <exception>
#include <iostream>

#include "apps/commands.hpp"
#include "tilesparse/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"tilesparse: prune neural-network weights into GEMM-friendly sparsity patterns and run them fast"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tilesparse 0.1.0");
  tilesparse::cli::add_inspect_command(app);
  tilesparse::cli::add_convert_command(app);
  tilesparse::cli::add_model_command(app);
  tilesparse::cli::add_generate_command(app);
  tilesparse::cli::add_demo_command(app);
  tilesparse::cli::add_study_command(app);
  tilesparse::cli::add_prune_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // usage errors: CLI11 prints the message and returns its code
  } catch (const tilesparse::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
  return 0;
}
