#pragma once

// Everything a plugin's source needs: the interface and the export macro.
#include "sideband/sdk/Export.h"
#include "sideband/sdk/Plugin.h"
