// heed's version: CMake's project(VERSION), written once in CMakeLists.txt.
#pragma once

namespace heed {

const char* version();

}  // namespace heed
