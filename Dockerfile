# Multi-stage build of the single-file, self-contained `backstop` binary.
#   docker build -t backstop .
#   docker run -p 8080:8080 -v backstop-data:/data backstop
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY App.csproj global.json ./
RUN dotnet restore App.csproj -r linux-x64
COPY . .
RUN dotnet publish App.csproj -c Release -r linux-x64 --no-restore -o /out

# runtime-deps: the native libraries a self-contained .NET binary needs, and nothing else.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
# Working directory "/": the default relative paths (./data/backstop.db, ./data/hangfire.db, ./data/mail) land in the /data volume.
WORKDIR /
COPY --from=build /out/backstop /app/backstop
COPY --from=build /out/appsettings.json /app/appsettings.json
# The image's non-root user; /data holds the SQLite databases (ours and Hangfire's), generated mail and nothing else.
RUN mkdir -p /data && chown -R app:app /data
USER app
ENV ASPNETCORE_URLS=http://+:8080 \
    ASPNETCORE_CONTENTROOT=/app
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/app/backstop", "healthcheck"]
ENTRYPOINT ["/app/backstop"]
