#include "app/HostApplication.h"
#include "app/SignCommand.h"
#include "app/Signals.h"
#include "tenants/TenantsCommand.h"

#include <Poco/Exception.h>

#include <iostream>
#include <string>
#include <vector>

// Subcommands are dispatched before the ServerApplication sees the arguments; without one,
// sideband-host runs the server.
int main(int argc, char** argv) {
    sideband::signals::blockServiceSignals(); // before any thread exists
    const std::string command = argc > 1 ? argv[1] : "";
    const std::vector<std::string> rest(argv + std::min(argc, 2), argv + argc);
    if (command == "sign") return sideband::runSignCommand(rest);
    if (command == "tenants") return sideband::tenants::runTenantsCommand(rest);

    try {
        sideband::HostApplication app;
        return app.run(argc, argv);
    } catch (const Poco::Exception& e) {
        std::cerr << "sideband-host: " << e.displayText() << "\n";
        return 64;
    }
}
