// Namespaces nearly every file of this project imports (docs/architecture.md, "Files and namespaces").
global using System.Net;
global using System.Text.Json;
global using Backstop.Infrastructure.Data;
global using Backstop.Tests.Support;
global using Dapper;
global using Shouldly;
