#include "app/HostApplication.h"
#include "app/SignCommand.h"

#include <Poco/Exception.h>

#include <iostream>
#include <string>
#include <vector>

// Subcommands are dispatched before the ServerApplication sees the arguments; without one,
// sideband-host runs the server.
int main(int argc, char** argv) {
    const std::string command = argc > 1 ? argv[1] : "";
    const std::vector<std::string> rest(argv + std::min(argc, 2), argv + argc);
    if (command == "sign") return sideband::runSignCommand(rest);

    try {
        sideband::HostApplication app;
        return app.run(argc, argv);
    } catch (const Poco::Exception& e) {
        std::cerr << "sideband-host: " << e.displayText() << "\n";
        return 64;
    }
}
