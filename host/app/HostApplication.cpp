#include "app/HostApplication.h"

#include "app/CheckConfig.h"
#include "app/Host.h"
#include "app/Settings.h"
#include "app/Signals.h"
#include "app/SystemdNotify.h"
#include "core/Logging.h"

#include <Poco/Environment.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>

#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

namespace sideband {

void HostApplication::defineOptions(Poco::Util::OptionSet& options) {
    ServerApplication::defineOptions(options);
    options.addOption(Poco::Util::Option("config", "c", "read settings from FILE (NAME = value lines)")
                          .required(false)
                          .repeatable(false)
                          .argument("FILE"));
    options.addOption(Poco::Util::Option("check-config", "",
                                         "check the settings, secrets, TLS files, store and plugins, print one line "
                                         "per check, and exit 0 (all ok) or 78; binds no port")
                          .required(false)
                          .repeatable(false));
    options.addOption(Poco::Util::Option("help", "h", "print this help").required(false).repeatable(false));
}

void HostApplication::handleOption(const std::string& name, const std::string& value) {
    ServerApplication::handleOption(name, value);
    if (name == "config") configFile_ = value;
    if (name == "check-config") checkConfig_ = true;
    if (name == "help") {
        helpRequested_ = true;
        stopOptionsProcessing();
    }
}

int HostApplication::main(const std::vector<std::string>&) {
    if (helpRequested_) {
        Poco::Util::HelpFormatter help(options());
        help.setCommand(commandName());
        help.setUsage("[--config FILE] [--check-config] | sign ... | tenants ...");
        help.setHeader("Sideband: a multi-tenant host for OpenAI Realtime SIP calls. See README.md.");
        help.format(std::cout);
        return EXIT_OK;
    }
    if (checkConfig_) return runCheckConfig(configFile_, std::cout);

    std::vector<std::string> problems;
    Settings settings;
    try {
        settings = Settings::load(Settings::environmentThenFile(configFile_), problems);
    } catch (const Poco::Exception& e) {
        logging::configure(logging::Format::Human, spdlog::level::info);
        spdlog::critical("cannot read config file {}: {}", configFile_, e.displayText());
        return EXIT_CONFIG;
    }
    logging::configure(logging::parseFormat(settings.logFormat), spdlog::level::from_str(settings.logLevel));
    for (const auto& problem : settings.validate()) problems.push_back(problem);
    if (!problems.empty()) {
        for (const auto& problem : problems) spdlog::critical("{}", problem);
        return EXIT_CONFIG;
    }

    // Plugins read their state directory from the environment; a value from the config file must
    // reach them too. Set before the Host starts any thread.
    if (!settings.stateDir.empty()) Poco::Environment::set("SIDEBAND_STATE_DIR", settings.stateDir);

    std::unique_ptr<Host> host;
    try {
        host = std::make_unique<Host>(settings);
        host->start();
    } catch (const std::exception& e) {
        spdlog::critical("cannot start: {}", e.what());
        return EXIT_SOFTWARE;
    }
    systemd::notifyReady("serving on " + settings.listen); // Type=notify: listeners are bound
    for (;;) {
        const int signo = signals::waitForSignal();
        if (signo != SIGHUP) break;
        spdlog::info("SIGHUP: reloading plugins");
        host->reload();
    }
    spdlog::info("termination requested: draining (up to {} s)", settings.drainSeconds);
    systemd::notifyStopping();
    host->drain(std::chrono::seconds(settings.drainSeconds));
    host->stop();
    spdlog::info("stopped");
    return EXIT_OK;
}

} // namespace sideband
