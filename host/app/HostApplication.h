#pragma once

#include <Poco/Util/ServerApplication.h>

namespace sideband {

// `sideband-host [--config FILE]`: loads settings, starts the Host, and serves until SIGTERM or
// SIGINT, then drains, stops cleanly and exits 0; SIGHUP reloads plugins.
// `sideband-host --check-config [--config FILE]`: checks the configuration and exits (CheckConfig.h).
class HostApplication final : public Poco::Util::ServerApplication {
protected:
    void defineOptions(Poco::Util::OptionSet& options) override;
    void handleOption(const std::string& name, const std::string& value) override;
    int main(const std::vector<std::string>& args) override;

private:
    std::string configFile_;
    bool helpRequested_ = false;
    bool checkConfig_ = false;
};

} // namespace sideband
