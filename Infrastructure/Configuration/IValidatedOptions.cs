using System.ComponentModel;
using System.Reflection;

namespace Backstop.Infrastructure.Configuration;

/// <summary>Options that can say what is wrong with themselves, as sentences naming the configuration key.</summary>
internal interface IValidatedOptions
{
    IEnumerable<string> Validate();
}
