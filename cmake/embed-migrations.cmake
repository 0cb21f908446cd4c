# kauri_quota_embed_migrations(<backend> <output.cpp>)
#
# Generates a C++ source holding every schema/<backend>/NNNN_name.up.sql and
# its .down.sql as string literals, so the library needs no files at run
# time. Regenerated whenever a migration file changes.

function(kauri_quota_embed_migrations backend output)
  file(GLOB sql_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/schema/${backend}/*.sql)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DBACKEND=${backend} -DSCHEMA_DIR=${PROJECT_SOURCE_DIR}/schema/${backend}
            -DOUTPUT=${output} -P ${PROJECT_SOURCE_DIR}/cmake/embed-migrations-run.cmake
    DEPENDS ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/embed-migrations-run.cmake
    COMMENT "Embedding ${backend} migrations"
    VERBATIM)
endfunction()

# kauri_quota_embed_functions(<backend> <output.cpp>)
#
# Generates a C++ source holding every schema/<backend>/functions/*.sql (the
# repeatable server-side functions), in name order. Regenerated whenever a
# function file changes.
function(kauri_quota_embed_functions backend output)
  file(GLOB sql_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/schema/${backend}/functions/*.sql)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DMODE=functions -DBACKEND=${backend}
            -DSCHEMA_DIR=${PROJECT_SOURCE_DIR}/schema/${backend}/functions -DOUTPUT=${output} -P
            ${PROJECT_SOURCE_DIR}/cmake/embed-migrations-run.cmake
    DEPENDS ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/embed-migrations-run.cmake
    COMMENT "Embedding ${backend} functions"
    VERBATIM)
endfunction()
