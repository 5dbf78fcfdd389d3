// Namespaces nearly every file of this project imports (docs/architecture.md, "Files and namespaces").
global using System.Data.Common;
global using System.Text.Json;
global using Backstop.Infrastructure.Api;
global using Backstop.Infrastructure.Audit;
global using Backstop.Infrastructure.Configuration;
global using Backstop.Infrastructure.Data;
global using Backstop.Infrastructure.Errors;
global using Backstop.Infrastructure.Outbox;
global using Backstop.Infrastructure.Security;
global using Dapper;
global using FluentValidation;
global using Microsoft.Extensions.Options;
