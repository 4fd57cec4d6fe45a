# Cross-builds xpoll for 64-bit Windows with Debian's mingw-w64 and runs the
# results under Wine:
#   cmake -S . -B build/windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
# The posix-thread flavour of the compilers has std::thread and std::mutex.
# Programs and the DLL link the GCC runtime statically, so that Wine needs no
# path to mingw's DLLs (without it tests fail to start with c0000135).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(XPOLL_MINGW_PREFIX x86_64-w64-mingw32)

find_program(CMAKE_C_COMPILER NAMES ${XPOLL_MINGW_PREFIX}-gcc-posix ${XPOLL_MINGW_PREFIX}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${XPOLL_MINGW_PREFIX}-g++-posix ${XPOLL_MINGW_PREFIX}-g++ REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${XPOLL_MINGW_PREFIX}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${XPOLL_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")

find_program(XPOLL_WINE NAMES wine wine64)
if(XPOLL_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${XPOLL_WINE})
endif()
